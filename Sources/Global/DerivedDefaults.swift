// DerivedDefaults: the defaults Postfix computes on the machine rather than
// declares: myhostname, mydomain, mynetworks (from the interfaces and
// mynetworks_style), process_id and process_name.
import Glibc

public enum DerivedDefaults {
    /// Names whose default the registry cannot state.
    public static let names: Set<String> = ["myhostname", "mydomain", "mynetworks", "process_id", "process_name"]

    /// The machine's host name; with no dot in it, ".localdomain" is added
    /// as Postfix does.
    public static func myhostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost.localdomain" }
        let name = String(cString: buffer)
        return name.contains(".") ? name : name + ".localdomain"
    }

    /// `myhostname` without its first label; when that leaves no dot,
    /// Postfix uses "localdomain" for a one-label remainder.
    public static func mydomain(fromHostname host: String) -> String {
        guard let dot = host.firstIndex(of: ".") else { return "localdomain" }
        let rest = String(host[host.index(after: dot)...])
        return rest.isEmpty ? "localdomain" : rest
    }

    /// The value of a derived parameter, given how other parameters expand.
    public static func value(of name: String, programName: String, expand: (String) -> String) -> String? {
        switch name {
        case "myhostname": return myhostname()
        case "mydomain": return mydomain(fromHostname: expand("myhostname"))
        case "mynetworks": return NetworkInterfaces.mynetworks(style: expand("mynetworks_style"),
                                                               protocols: expand("inet_protocols"),
                                                               interfaces: expand("inet_interfaces"))
        case "process_id": return String(getpid())
        case "process_name": return programName
        default: return nil
        }
    }
}
