// MainParameterPrinter: `postconf`, `postconf -n`, `postconf -d` and
// `postconf name...`, with -h (values only), -H (names only), -x (expand)
// and -f (fold).
import Util
import Global

struct MainParameterPrinter {
    let options: PostconfOptions
    let config: MailConfig
    let catalog: ParameterCatalog
    let explicitConfigDirectory: Bool
    let out = StandardOutput()
    /// For -d: the configuration with main.cf and overrides left out, so
    /// derived defaults (mydomain, mynetworks) follow other defaults.
    private var defaultsOnly: MailConfig {
        MailConfig(configDirectory: config.configDirectory, main: .empty(path: config.main.path),
                   serviceDefaults: config.serviceDefaults, programName: config.programName)
    }

    /// The unexpanded value to show for `name`, or nil to show nothing.
    private func shownValue(_ name: String) -> String? {
        if options.showDefaults {
            if name == "config_directory" { return ParameterRegistry.spec(named: name)?.defaultValue }
            return defaultsOnly.defaultValue(name)
        }
        return config.rawValue(name)
    }

    /// Whether `-n` counts the name as explicitly set.
    private func isExplicit(_ name: String) -> Bool {
        if name == "config_directory" && explicitConfigDirectory { return true }
        return config.main.values[name] != nil || options.overrides.contains { $0.0 == name }
    }

    private func render(_ name: String, _ raw: String) -> String {
        var value = raw
        if options.expand && ParameterRegistry.spec(named: name)?.kind != .raw {
            do {
                value = try (options.showDefaults ? defaultsOnly : config).expand(raw)
            } catch {
                Diagnostics.warning("\(error)")
            }
        }
        if options.namesOnly { return name }
        if options.valuesOnly { return LineFolder.valueOnly(value, fold: options.fold) }
        return LineFolder.nameValue(name, value, fold: options.fold)
    }

    /// Whether -C lets `name` through.
    private func inSelectedClasses(_ name: String) -> Bool {
        guard let classes = options.classes else { return true }
        for word in classes.splitList() {
            switch word {
            case "all": return true
            case "builtin": if catalog.isBuiltin(name) { return true }
            case "service": if catalog.isServiceDefined(name) { return true }
            case "user": if catalog.userDefined.contains(name) && !catalog.isBuiltin(name) { return true }
            default: Diagnostics.fatal("unknown -C option value \"\(word)\" in \"\(classes)\"")
            }
        }
        return false
    }

    func run() -> Int32 {
        if options.arguments.isEmpty {
            for name in catalog.allNames {
                if !inSelectedClasses(name) { continue }
                if options.explicitOnly && !isExplicit(name) { continue }
                guard let raw = shownValue(name) else { continue }
                out.write(render(name, raw) + "\n")
            }
        } else {
            for name in options.arguments {
                guard catalog.isKnown(name), let raw = shownValue(name) else {
                    Diagnostics.warning("\(name): unknown parameter")
                    continue
                }
                if options.explicitOnly && !isExplicit(name) { continue }
                out.write(render(name, raw) + "\n")
            }
        }
        out.flush()
        return 0
    }
}
