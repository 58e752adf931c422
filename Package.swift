// swift-tools-version:6.0
// Posthorn: a Postfix-compatible mail transfer agent.
//
// Layers (imports point downwards only):
//   C shims (COpenSSL, CMariaDB, CBerkeleyDB, CLMDB, CPCRE2, CSQLite, CPosix)
//   Util        - no mail knowledge: strings, files, errors, processes
//   Global      - mail-wide code: parameters, main.cf, master.cf, expansion
//   service libraries (ConfigCheck, later Tables, TLS, SASL, ServerSkeleton)
//   executables - one per program (postconf, postfix, ...); nobody imports them
import PackageDescription

func shim(_ name: String, link libraries: [String]) -> Target {
    .target(name: name, path: "Sources/\(name)",
            linkerSettings: libraries.map { .linkedLibrary($0) })
}

let package = Package(
    name: "Posthorn",
    products: [
        .executable(name: "postconf", targets: ["postconf"]),
        .executable(name: "postfix", targets: ["postfix"]),
        .executable(name: "postmap", targets: ["postmap"]),
        .executable(name: "postalias", targets: ["postalias"]),
        .executable(name: "newaliases", targets: ["newaliases"]),
        .executable(name: "proxymap", targets: ["proxymap"]),
        .executable(name: "anvil", targets: ["anvil"]),
        .executable(name: "master", targets: ["master"]),
        .executable(name: "postlogd", targets: ["postlogd"]),
        .executable(name: "postlog", targets: ["postlog"]),
        .executable(name: "posthorn-testd", targets: ["posthorn-testd"]),
        .executable(name: "trivial-rewrite", targets: ["trivial-rewrite"]),
    ],
    targets: [
        shim("COpenSSL", link: ["ssl", "crypto"]),
        shim("CMariaDB", link: ["mariadb"]),
        shim("CBerkeleyDB", link: ["db"]),
        shim("CLMDB", link: ["lmdb"]),
        shim("CPCRE2", link: ["pcre2-8"]),
        shim("CSQLite", link: ["sqlite3"]),
        shim("CPosix", link: []),

        .target(name: "Util"),
        .target(name: "Global", dependencies: ["Util", "CPosix"]),
        .target(name: "ConfigCheck", dependencies: ["Util", "Global"]),
        .target(name: "Tables", dependencies: ["Util", "Global", "CBerkeleyDB", "CLMDB", "CPCRE2", "CMariaDB", "CSQLite"]),

        .target(name: "ServerSkeleton", dependencies: ["Util", "Global"]),

        .executableTarget(name: "master", dependencies: ["Util", "Global"]),
        .executableTarget(name: "posthorn-testd", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "postconf", dependencies: ["Util", "Global"]),
        .executableTarget(name: "postfix", dependencies: ["Util", "Global", "ConfigCheck"]),
        .executableTarget(name: "postlogd", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "postlog", dependencies: ["Util", "Global"]),
        .executableTarget(name: "postmap", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "postalias", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "newaliases", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "proxymap", dependencies: ["Util", "Global", "Tables", "ServerSkeleton"]),
        .executableTarget(name: "anvil", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "trivial-rewrite", dependencies: ["Util", "Global", "Tables", "ServerSkeleton"]),

        .testTarget(name: "UtilTests", dependencies: ["Util"]),
        .testTarget(name: "GlobalTests", dependencies: ["Util", "Global"]),
        .testTarget(name: "ConfigCheckTests", dependencies: ["Util", "Global", "ConfigCheck"]),
        .testTarget(name: "TablesTests", dependencies: ["Util", "Global", "Tables"], exclude: ["Fixtures"]),
        .testTarget(name: "ServerSkeletonTests", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .testTarget(name: "ProxyTests", dependencies: ["Util", "Global", "Tables", "proxymap", "anvil"]),
        .testTarget(name: "RewriteTests", dependencies: ["Util", "Global", "Tables", "trivial-rewrite"]),
        .testTarget(name: "ShimTests",
                    dependencies: ["COpenSSL", "CMariaDB", "CBerkeleyDB", "CLMDB", "CPCRE2", "CSQLite"]),
    ],
    swiftLanguageModes: [.v6]
)
