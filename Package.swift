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
    .target(name: name, path: "Sources/\(name)", cSettings: [.headerSearchPath("../CPosix/lazy")],  // posthorn_lazy_loader.h
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
        .executable(name: "postcat", targets: ["postcat"]),
        .executable(name: "posthorn-queue-writer", targets: ["posthorn-queue-writer"]),
        .executable(name: "proxymap", targets: ["proxymap"]),
        .executable(name: "anvil", targets: ["anvil"]),
        .executable(name: "master", targets: ["master"]),
        .executable(name: "postlogd", targets: ["postlogd"]),
        .executable(name: "postlog", targets: ["postlog"]),
        .executable(name: "posthorn-testd", targets: ["posthorn-testd"]),
        .executable(name: "trivial-rewrite", targets: ["trivial-rewrite"]),
        .executable(name: "cleanup", targets: ["cleanup"]),
        .executable(name: "pickup", targets: ["pickup"]),
        .executable(name: "postdrop", targets: ["postdrop"]),
        .executable(name: "sendmail", targets: ["sendmail"]),
        .executable(name: "qmgr", targets: ["qmgr"]),
        .executable(name: "discard", targets: ["discard"]),
        .executable(name: "error", targets: ["error"]),
        .executable(name: "showq", targets: ["showq"]),
        .executable(name: "postqueue", targets: ["postqueue"]),
        .executable(name: "mailq", targets: ["mailq"]),
        .executable(name: "postsuper", targets: ["postsuper"]),
        .executable(name: "smtpd", targets: ["smtpd"]),
        .executable(name: "tlsmgr", targets: ["tlsmgr"]),
        .executable(name: "bounce", targets: ["bounce"]),
        .executable(name: "flush", targets: ["flush"]),
    ],
    targets: [
        shim("COpenSSL", link: []),  // libssl.so.3 + libcrypto.so.3: dlopen on demand (lazy.c)
        shim("CMariaDB", link: []),  // libmariadb.so.3: dlopen on demand (shim.c)
        shim("CBerkeleyDB", link: []),  // libdb-5.3.so: dlopen on demand (shim.c)
        shim("CLMDB", link: []),  // liblmdb.so.0: dlopen on demand (shim.c)
        shim("CPCRE2", link: []),  // libpcre2-8.so.0: dlopen on demand (shim.c)
        shim("CSQLite", link: []),  // libsqlite3.so.0: dlopen on demand (shim.c)
        shim("CPosix", link: []),

        .target(name: "Util", dependencies: ["CPosix"]),
        .target(name: "Global", dependencies: ["Util", "CPosix"]),
        .target(name: "ConfigCheck", dependencies: ["Util", "Global"]),
        .target(name: "Tables", dependencies: ["Util", "Global", "CBerkeleyDB", "CLMDB", "CPCRE2", "CMariaDB", "CSQLite"]),

        .target(name: "ServerSkeleton", dependencies: ["Util", "Global", "CPosix"]),
        .target(name: "TLS", dependencies: ["Util", "Global", "COpenSSL"]),
        .target(name: "SASL", dependencies: ["Util"]),
        .target(name: "DNS", dependencies: ["Util"]),
        .target(name: "SmtpdPolicy", dependencies: ["Util", "Global", "Tables", "DNS"]),

        .executableTarget(name: "master", dependencies: ["Util", "Global"]),
        .executableTarget(name: "posthorn-testd", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "postconf", dependencies: ["Util", "Global"]),
        .executableTarget(name: "postfix", dependencies: ["Util", "Global", "ConfigCheck"]),
        .executableTarget(name: "postlogd", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "postlog", dependencies: ["Util", "Global"]),
        .executableTarget(name: "postmap", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "postalias", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "newaliases", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "postcat", dependencies: ["Util", "Global"]),
        .executableTarget(name: "posthorn-queue-writer", dependencies: ["Util", "Global"]),
        .executableTarget(name: "proxymap", dependencies: ["Util", "Global", "Tables", "ServerSkeleton"]),
        .executableTarget(name: "anvil", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "trivial-rewrite", dependencies: ["Util", "Global", "Tables", "ServerSkeleton"]),
        .executableTarget(name: "cleanup", dependencies: ["Util", "Global", "Tables", "ServerSkeleton"]),
        .executableTarget(name: "pickup", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "postdrop", dependencies: ["Util", "Global"]),
        .executableTarget(name: "sendmail", dependencies: ["Util", "Global"]),
        .executableTarget(name: "qmgr", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "discard", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "error", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "showq", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "postqueue", dependencies: ["Util", "Global", "Tables"]),
        .executableTarget(name: "mailq", dependencies: ["Util", "Global"]),
        .executableTarget(name: "postsuper", dependencies: ["Util", "Global"]),
        .executableTarget(name: "smtpd", dependencies: ["Util", "Global", "Tables", "ServerSkeleton", "SmtpdPolicy", "TLS", "SASL", "DNS"]),
        .executableTarget(name: "tlsmgr", dependencies: ["Util", "Global", "Tables", "ServerSkeleton", "TLS"]),
        .executableTarget(name: "bounce", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .executableTarget(name: "flush", dependencies: ["Util", "Global", "Tables", "ServerSkeleton"]),

        .testTarget(name: "UtilTests", dependencies: ["Util"]),
        .testTarget(name: "GlobalTests", dependencies: ["Util", "Global"]),
        .testTarget(name: "ConfigCheckTests", dependencies: ["Util", "Global", "ConfigCheck"]),
        .testTarget(name: "TablesTests", dependencies: ["Util", "Global", "Tables"], exclude: ["Fixtures"]),
        .testTarget(name: "ServerSkeletonTests", dependencies: ["Util", "Global", "ServerSkeleton"]),
        .testTarget(name: "ProxyTests", dependencies: ["Util", "Global", "Tables", "proxymap", "anvil"]),
        .testTarget(name: "CleanupTests", dependencies: ["Util", "Global", "Tables", "cleanup"]),
        .testTarget(name: "RewriteTests", dependencies: ["Util", "Global", "Tables", "trivial-rewrite"]),
        .testTarget(name: "QueueManagerTests", dependencies: ["Util", "Global", "qmgr"]),
        .testTarget(name: "BounceTests", dependencies: ["Util", "Global", "bounce"]),
        .testTarget(name: "FlushTests", dependencies: ["Util", "Global", "Tables", "flush"]),
        .testTarget(name: "SmtpdTests", dependencies: ["Util", "Global", "Tables", "SmtpdPolicy", "smtpd", "DNS"]),
        .testTarget(name: "TLSTests", dependencies: ["Util", "TLS"]),
        .testTarget(name: "SASLTests", dependencies: ["Util", "SASL"]),
        .testTarget(name: "ShimTests",
                    dependencies: ["COpenSSL", "CMariaDB", "CBerkeleyDB", "CLMDB", "CPCRE2", "CSQLite"]),
    ],
    swiftLanguageModes: [.v6]
)

// Release builds optimize across module boundaries: the per-message path runs through Util,
// Global and a daemon's own module, and inlining across them took about 7% off the CPU per
// message of bench/smtpd_bench.py (docs/PERFORMANCE.md). They also leave out the run-time
// exclusivity checks (swift_beginAccess on every class property access: 11% of cleanup's and 8%
// of smtpd's instructions per message under callgrind); debug builds, which every test runs,
// keep them, so an overlapping access still traps there.
let cShims: Set<String> = ["COpenSSL", "CMariaDB", "CBerkeleyDB", "CLMDB", "CPCRE2", "CSQLite", "CPosix"]
for target in package.targets where !cShims.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? [])
        + [.unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release))]
}

// Release builds link the C++ runtime (used by the Swift runtime) statically: scripts/link holds
// a linker script named libstdc++.so that -lstdc++ finds first. Each daemon start then skips
// ~1,700 symbol bindings in the dynamic loader (docs/PERFORMANCE.md).
for target in package.targets where target.type == .executable {
    target.linkerSettings = (target.linkerSettings ?? [])
        + [.unsafeFlags(["-L", Context.packageDirectory + "/scripts/link"], .when(configuration: .release))]
}
