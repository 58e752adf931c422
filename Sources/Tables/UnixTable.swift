// UnixTable: unix:passwd.byname and unix:group.byname, the system account
// databases in passwd(5) and group(5) format.
import Glibc

public final class UnixTable: LookupTable {
    public let reference: String
    public var keyCase: KeyCase { .asGiven }
    private let isGroup: Bool

    public init(name: String) throws(LookupError) {
        reference = "unix:" + name
        switch name {
        case "passwd.byname": isGroup = false
        case "group.byname": isGroup = true
        default: throw .configuration("unknown table: unix:\(name)")
        }
    }

    public func lookup(_ key: String) throws(LookupError) -> String? {
        if isGroup {
            guard let g = getgrnam(key) else { return nil }
            var members: [String] = []
            var p = g.pointee.gr_mem
            while let m = p?.pointee { members.append(String(cString: m)); p = p! + 1 }
            return "\(String(cString: g.pointee.gr_name)):\(String(cString: g.pointee.gr_passwd)):\(g.pointee.gr_gid):\(members.joined(separator: ","))"
        }
        guard let p = getpwnam(key) else { return nil }
        let e = p.pointee
        return [String(cString: e.pw_name), String(cString: e.pw_passwd), String(e.pw_uid), String(e.pw_gid),
                String(cString: e.pw_gecos), String(cString: e.pw_dir), String(cString: e.pw_shell)].joined(separator: ":")
    }
}
