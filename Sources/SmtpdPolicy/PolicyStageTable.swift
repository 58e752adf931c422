// PolicyStageTable: one optional value per restriction stage, kept in an
// array indexed by the stage. A dictionary keyed by PolicyStage hashed the
// stage's String raw value at every lookup (several per SMTP command), and
// instantiating its storage type cost every smtpd start-up 30,000
// instructions.

public struct PolicyStageTable<Value> {
    private var values = [Value?](repeating: nil, count: PolicyStage.allCases.count)

    public init() {}

    public subscript(stage: PolicyStage) -> Value? {
        get { values[stage.index] }
        set { values[stage.index] = newValue }
    }
}

extension PolicyStageTable: Sendable where Value: Sendable {}

extension PolicyStage {
    /// The stage's position in allCases.
    var index: Int {
        switch self {
        case .client: return 0
        case .helo: return 1
        case .sender: return 2
        case .relay: return 3
        case .recipient: return 4
        case .data: return 5
        case .endOfData: return 6
        case .etrn: return 7
        }
    }
}
