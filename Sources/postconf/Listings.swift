// Listings: postconf -a, -A, -l, -m, -b and -t: the SASL plug-ins, lock
// methods and lookup table types this build supports.
import Util

enum Listings {
    static let serverSASLTypes = ["dovecot"]
    static let clientSASLTypes: [String] = []
    static let lockMethods = ["flock", "fcntl", "dotlock"]
    static let tableTypes = ["btree", "cidr", "environ", "fail", "hash", "inline", "internal", "lmdb", "mysql",
                             "pcre", "pipemap", "proxy", "randmap", "regexp", "socketmap", "sqlite", "static",
                             "texthash", "unionmap", "unix"]

    static func print(_ flag: Character) -> Int32 {
        let out = StandardOutput()
        let lines: [String]
        switch flag {
        case "a": lines = serverSASLTypes
        case "A": lines = clientSASLTypes
        case "l": lines = lockMethods
        case "m": lines = tableTypes
        default:
            Diagnostics.fatal("bounce templates (-b, -t) arrive with the bounce service")
        }
        for line in lines { out.write(line + "\n") }
        out.flush()
        return 0
    }
}
