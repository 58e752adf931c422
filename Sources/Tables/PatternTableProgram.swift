// PatternTableProgram: the rules of a regexp, pcre or cidr table in file
// order, with `if ... endif` blocks (nesting allowed) as jumps past the
// block when the IF condition does not hold.

/// The compiled rules of one pattern table.
struct PatternTableProgram<Rule> {
    enum Step {
        /// A rule that may answer the lookup.
        case rule(Rule)
        /// `if`: when `Rule` does not hold, continue at step `end`.
        case block(Rule, end: Int)
    }

    var steps: [Step] = []

    /// The first answer in table order: `holds` decides IF conditions,
    /// `answer` gives a rule's result or nil when the rule does not match.
    func first(holds: (Rule) -> Bool, answer: (Rule) -> String?) -> String? {
        var i = 0
        while i < steps.count {
            switch steps[i] {
            case .rule(let rule):
                if let result = answer(rule) { return result }
                i += 1
            case .block(let rule, let end):
                i = holds(rule) ? i + 1 : end
            }
        }
        return nil
    }
}

/// Builds a program line by line, keeping track of open IF blocks.
struct PatternTableProgramBuilder<Rule> {
    private(set) var program = PatternTableProgram<Rule>()
    private var open: [(step: Int, line: Int)] = []

    mutating func add(_ rule: Rule) {
        program.steps.append(.rule(rule))
    }

    mutating func beginIf(_ rule: Rule, line: Int) {
        open.append((program.steps.count, line))
        program.steps.append(.block(rule, end: -1))
    }

    /// Closes the innermost IF; false when none is open.
    mutating func endIf() -> Bool {
        guard let last = open.popLast() else { return false }
        close(last.step)
        return true
    }

    /// The finished program; each IF left open (innermost first) is
    /// reported by its line number and runs to the end of the table.
    mutating func finish(unclosed: (Int) -> Void) -> PatternTableProgram<Rule> {
        while let last = open.popLast() {
            unclosed(last.line)
            close(last.step)
        }
        return program
    }

    private mutating func close(_ step: Int) {
        if case .block(let rule, _) = program.steps[step] {
            program.steps[step] = .block(rule, end: program.steps.count)
        }
    }
}
