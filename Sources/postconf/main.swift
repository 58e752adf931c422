// postconf: show and edit the Postfix-compatible configuration (main.cf
// parameters, master.cf entries, fields and -o parameters), with output,
// warnings and exit codes as Postfix 3.7's postconf(1).
//
// SECURITY: runs with the invoking user's privileges; edits replace files
// atomically (temporary file, fsync, rename) through AtomicFile.
// STANDARDS: postconf(1), postconf(5), master(5).
// CONFIGURATION PARAMETERS: config_directory (or -c, or MAIL_CONFIG), and
// every parameter in the registry, which it lists.
import Glibc
import Util
import Global

Diagnostics.programName = CommandLine.arguments.first ?? "postconf"
let options = PostconfOptions.parse(Array(CommandLine.arguments.dropFirst()))

let configDirectory = MailConfig.directory(option: options.configDirectory)
let explicitDirectory = options.configDirectory != nil || getenv("MAIL_CONFIG") != nil

/// Prints Postfix's fatal text for a configuration error and exits.
func fail(_ error: ConfigError) -> Never {
    Diagnostics.fatal(error.postfixText)
}

let isEdit = options.edit || options.remove || options.commentOut
    || (!options.master && !options.fields && !options.parameters && !options.showDefaults
        && options.arguments.contains { $0.contains("=") })
    || ((options.master || options.fields || options.parameters) && options.arguments.contains { $0.contains("=") })
if isEdit {
    let editor = PostconfEditor(options: options, configDirectory: configDirectory)
    exit(editor.run())
}

if let listing = options.listing {
    exit(Listings.print(listing))
}

let mainPath = configDirectory + "/main.cf"
let masterPath = configDirectory + "/master.cf"
let mainFile: MainConfigFile
if options.showDefaults && !TextFile.exists(mainPath) {
    mainFile = MainConfigFile.empty(path: mainPath)
} else {
    do { mainFile = try MainConfigFile.load(path: mainPath) } catch { fail(error) }
}
for warning in mainFile.warnings { Diagnostics.warning(warning) }

let wantsMaster = options.master || options.fields || options.parameters
var masterEntries: [MasterEntry] = []
do {
    let master = try MasterConfigFile.load(path: masterPath)
    for warning in master.warnings { Diagnostics.warning(warning) }
    masterEntries = master.entries
} catch {
    if wantsMaster || error.line != nil { fail(error) }
    Diagnostics.warning(error.postfixText)
}

var config = MailConfig(configDirectory: configDirectory, main: mainFile,
                        serviceDefaults: ServiceParameters.defaults(for: masterEntries),
                        programName: "postconf")
for (name, value) in options.overrides { config.overrides[name] = value }

if !options.showDefaults {
    ParameterEvaluation.evaluateEarly(config)
}

let catalog = ParameterCatalog(config: config, masterEntries: masterEntries, masterPath: masterPath)
if !options.showDefaults {
    for warning in catalog.warnings { Diagnostics.warning(warning) }
    let rawValues = mainFile.entries.map(\.value) + masterEntries.flatMap { $0.options.map(\.value) }
    let databaseValues = rawValues.map { (try? config.expand($0)) ?? $0 }
    for table in DatabaseConfigFile.references(in: databaseValues) {
        for warning in DatabaseConfigFile.warnings(for: table) { Diagnostics.warning(warning) }
    }
    ParameterEvaluation.evaluateAll(config)
}

let status: Int32
if wantsMaster {
    let printer = MasterPrinter(options: options, config: config, entries: masterEntries)
    status = options.master ? printer.printEntries() : (options.fields ? printer.printFields() : printer.printParameters())
} else {
    status = MainParameterPrinter(options: options, config: config, catalog: catalog,
                                  explicitConfigDirectory: explicitDirectory).run()
}
exit(status)
