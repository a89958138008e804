/// What the worker publishes to `<prefix>.decisions` for the final decisions it makes
/// (`--decision-feed`; docs/wire-protocol.md, "Decision feed").
public enum DecisionFeedForm: String, Sendable, CaseIterable {
    /// Per batch and routing key, one message whose body is JSON Lines: one decision per line,
    /// in decision order (content type `application/x-ndjson`). The default: every decision, in
    /// order, filterable by binding, for one publish per batch and key instead of one per decision.
    case batch
    /// One message per decision, its body the decision's JSON (the shared specification's form,
    /// version 1.1).
    case each
    /// Nothing is published to the feed (the audit trail still has every decision).
    case off

    /// The content type of a batch message.
    public static let jsonLines = "application/x-ndjson"
}
