// PostconfEditor: postconf's editing modes: `-e`/`-X`/`-#` on main.cf and
// `-Me`/`-MX`/`-M#`, `-Fe`, `-Pe`/`-PX` on master.cf. Checks the command line
// and every argument first (Postfix's messages and exit codes), then edits
// the file text with MainConfigEditor or MasterConfigEditor and replaces
// the file through AtomicFile.
import Glibc
import Util
import Global

struct PostconfEditor {
    let options: PostconfOptions
    let configDirectory: String

    func run() -> Int32 {
        let edit = options.edit || options.arguments.contains { $0.contains("=") }
        checkConflicts(edit: edit)
        if options.master {
            editMasterEntries(edit: edit)
        } else if options.fields {
            editMasterFields()
        } else if options.parameters {
            editMasterParameters(edit: edit)
        } else {
            editMain(edit: edit)
        }
        return 0
    }

    // MARK: - Command line

    /// Postfix's checks for options that cannot go with editing.
    private func checkConflicts(edit: Bool) {
        if let listing = options.listing {
            Diagnostics.fatal("with option -\(listing), do not specify \(editFlag(edit))")
        }
        if options.tlsMode != nil {
            Diagnostics.fatal("with option -T, do not specify \(editFlag(edit))")
        }
        if options.fields && (options.remove || options.commentOut) {
            Diagnostics.fatal("with option -F, do not specify \(options.remove ? "-X" : "-#")")
        }
        if options.parameters && options.commentOut {
            Diagnostics.fatal("with option -P, do not specify -#")
        }
        let flags: [(String, Bool)] = [
            ("-d", options.showDefaults), ("-e", edit), ("-f", options.fold), ("-h", options.valuesOnly),
            ("-H", options.namesOnly), ("-n", options.explicitOnly), ("-o", !options.overrides.isEmpty),
            ("-x", options.expand), ("-X", options.remove), ("-#", options.commentOut),
        ]
        let set = flags.filter(\.1).map(\.0)
        if set.count > 1 { Diagnostics.fatal("specify one of \(set[0]) \(set[1])") }
    }

    private func editFlag(_ edit: Bool) -> String {
        edit ? "-e" : (options.remove ? "-X" : "-#")
    }

    /// Arguments must be present and single-line.
    private func requireArguments(edit: Bool) {
        if options.arguments.isEmpty {
            Diagnostics.fatal(edit ? "-e requires name=value argument" : "missing service argument")
        }
    }

    /// Splits `name=value` or ends the program with Postfix's message.
    private func assignment(_ argument: String) -> (String, String) {
        switch MainConfigEditor.splitAssignment(argument) {
        case .valid(let name, let value): return (name, value)
        case .invalid(let message): Diagnostics.fatal(message)
        }
    }

    // MARK: - main.cf

    private func editMain(edit: Bool) {
        requireArguments(edit: edit)
        var requests: [MainConfigEditor.Request] = []
        var index: [String: Int] = [:]
        for argument in options.arguments {
            if argument.contains("\n") { Diagnostics.fatal("-e, -X, or -# accepts no multi-line input") }
            let request: MainConfigEditor.Request
            if edit {
                let (name, value) = assignment(argument)
                request = .init(name: name, action: .update(value: value))
            } else {
                let name = String(Substring(argument).drop(while: { $0.isPostfixSpace }))
                if name.allSatisfy({ $0.isPostfixSpace }) {
                    Diagnostics.fatal("-X or -# requires non-blank parameter names")
                }
                request = .init(name: name, action: options.remove ? .remove : .commentOut)
            }
            if let earlier = index[request.name] {
                if case .update(let value) = requests[earlier].action {
                    Diagnostics.warning("ignoring earlier request: '\(request.name) = \(value)'")
                }
                requests[earlier] = request
            } else {
                index[request.name] = requests.count
                requests.append(request)
            }
        }
        let path = configDirectory + "/main.cf"
        let old = readForEditing(path)
        let result = MainConfigEditor.edit(old, requests: requests, path: path)
        for warning in result.warnings { Diagnostics.warning(warning) }
        write(result.bytes, to: path)
    }

    // MARK: - master.cf

    private func pattern(_ text: String, _ message: String) -> MasterServicePattern {
        guard let pattern = MasterServicePattern(text) else { Diagnostics.fatal(message) }
        return pattern
    }

    private func editMasterEntries(edit: Bool) {
        requireArguments(edit: edit)
        let usage = "-Me, -MX or -M# requires service_name/type"
        var requests: [MasterConfigEditor.EntryRequest] = []
        for argument in options.arguments {
            guard edit else {
                let p = pattern(argument, usage)
                requests.append(options.remove ? .remove(p) : .commentOut(p))
                continue
            }
            let (name, value) = assignment(argument)
            let p = pattern(name, usage)
            if let message = MasterConfigEditor.validateEntry(value, argument: argument) { Diagnostics.fatal(message) }
            guard let (layout, warnings) = MasterEntryLayout.parse(value) else {
                Diagnostics.fatal("bad field count: \"\(argument)\"")
            }
            requests.append(.replace(p, layout, warnings: warnings))
        }
        let path = configDirectory + "/master.cf"
        let old = readForEditing(path)
        let result = MasterConfigEditor.editEntries(old, requests: requests)
        for warning in result.warnings { Diagnostics.warning(warning) }
        write(result.bytes, to: path)
    }

    private func editMasterFields() {
        requireArguments(edit: true)
        let usage = "-Fe or -FX requires service_name/type/field_name"
        var requests: [MasterConfigEditor.FieldRequest] = []
        for argument in options.arguments {
            let (name, value) = assignment(argument)
            let (p, field) = splitTriple(name, usage)
            if field == "*" { Diagnostics.fatal("-Fe does not accept wild-card field name") }
            guard let index = MasterConfigEditor.fieldNames.firstIndex(of: field) else {
                Diagnostics.fatal("invalid service attribute name: \"\(field)\"")
            }
            if index < 7 && value.utf8.contains(where: { $0.isPostfixSpace }) {
                Diagnostics.fatal("-Fe does not accept whitespace in non-command field")
            }
            if index == 7 && value.isEmpty {
                // Postfix 3.7 crashes here; refuse instead.
                Diagnostics.fatal("-Fe requires a non-empty command field")
            }
            if let message = MasterConfigEditor.validateField(index, value) { Diagnostics.fatal(message) }
            requests.append(.init(pattern: p, field: index, value: value))
        }
        let path = configDirectory + "/master.cf"
        let old = readForEditing(path)
        let result = MasterConfigEditor.editFields(old, requests: requests)
        finishMaster(result, path: path)
    }

    private func editMasterParameters(edit: Bool) {
        requireArguments(edit: edit)
        let usage = "-Pe or -PX requires service_name/type/parameter"
        var requests: [MasterConfigEditor.ParameterRequest] = []
        for argument in options.arguments {
            var text = argument
            var value: String? = nil
            if edit {
                let (n, v) = assignment(argument)
                text = n
                value = v
            }
            let (p, name) = splitTriple(text, usage)
            if name == "*" { Diagnostics.fatal("-Pe does not accept wild-card parameter name") }
            if let value, value.utf8.contains(where: { $0.isPostfixSpace }) {
                Diagnostics.fatal("-Pe does not accept whitespace in parameter value")
            }
            requests.append(.init(pattern: p, name: name, value: value))
        }
        let path = configDirectory + "/master.cf"
        let old = readForEditing(path)
        let result = MasterConfigEditor.editParameters(old, requests: requests)
        finishMaster(result, path: path)
    }

    /// `service/type/name` split into a pattern and the name.
    private func splitTriple(_ text: String, _ usage: String) -> (MasterServicePattern, String) {
        guard let slash = text.lastIndex(of: "/") else { Diagnostics.fatal(usage) }
        let name = String(text[text.index(after: slash)...])
        guard !name.isEmpty, text[..<slash].contains("/") else { Diagnostics.fatal(usage) }
        return (pattern(String(text[..<slash]), usage), name)
    }

    private func finishMaster(_ result: MasterConfigEditor.Result, path: String) {
        for warning in result.warnings { Diagnostics.warning(warning) }
        for index in result.unmatched {
            Diagnostics.warning("unmatched service_name/type: \"\(options.arguments[index])\"")
        }
        write(result.bytes, to: path)
    }

    // MARK: - Files

    /// Reads the file to edit, failing as Postfix does: first for an
    /// unwritable directory (Postfix opens its temporary file first), then
    /// for the file itself.
    private func readForEditing(_ path: String) -> [UInt8] {
        let directory = AtomicFile.directoryName(path)
        if access(directory, W_OK | X_OK) != 0 {
            Diagnostics.fatal("open \(path).tmp: \(SystemError())")
        }
        do {
            return try TextFile.readBytes(path)
        } catch {
            Diagnostics.fatal("open \(path) for reading: \(error)")
        }
    }

    private func write(_ bytes: [UInt8], to path: String) {
        do {
            try AtomicFile.write(bytes, to: path)
        } catch {
            Diagnostics.fatal("open \(path).tmp: \(error)")
        }
    }
}
