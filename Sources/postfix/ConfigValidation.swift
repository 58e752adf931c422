// ConfigValidation: the validation part of `postfix check` (the
// ConfigCheck library): every main.cf and master.cf value, reported with
// file and line as `postfix: error: ...` / `postfix: warning: ...`.
import Glibc
import Util
import Global
import ConfigCheck

enum ConfigValidation {
    /// Prints every problem; returns the number of errors.
    static func run(configDirectory: String) -> Int {
        var checker = ConfigChecker(configDirectory: configDirectory)
        var errors = 0
        for problem in checker.run() {
            switch problem.severity {
            case .warning: Diagnostics.warning(problem.description)
            case .error:
                errors += 1
                Diagnostics.error(problem.description)
            }
        }
        return errors
    }
}
