import TollgateJSON
import TollgatePolicy
import TollgateStore

/// One step of a staged approval (`escalation.stages`): a stage, or the fallback group a stage
/// goes to when its approvers do not answer. A pure value, stored with the escalation as JSON.
struct ApprovalStep: Equatable {
    /// What the clock does at the step's deadline.
    enum OnTimeout: String, Equatable {
        /// The request is denied.
        case deny
        /// The stage is waived: the request moves on as if the stage had approved.
        case allow
        /// The stage goes to its fallback group (the next step), with a new deadline.
        case fallback
    }

    /// 0-based index of the stage this step belongs to, and how many stages there are.
    var stage: Int
    var stageCount: Int
    var name: String
    var approvers: [String]
    var requiredApprovals: Int
    var timeoutSeconds: Int
    var onTimeout: OnTimeout
    /// Whether this is the fallback group of its stage.
    var isFallback: Bool

    /// The steps of `stages`, each stage one step, two with a fallback group (which denies when
    /// it does not answer either).
    static func steps(_ stages: [EscalationSpec.Stage], defaultTimeout: Int) -> [ApprovalStep] {
        var steps: [ApprovalStep] = []
        for (index, stage) in stages.enumerated() {
            let name = stage.name ?? "stage \(index + 1)"
            let timeout = stage.timeoutSeconds ?? defaultTimeout
            var step = ApprovalStep(
                stage: index,
                stageCount: stages.count,
                name: name,
                approvers: stage.approvers,
                requiredApprovals: stage.requiredApprovals,
                timeoutSeconds: timeout,
                onTimeout: .deny,
                isFallback: false
            )
            switch stage.onTimeout {
            case .deny: steps.append(step)
            case .allow:
                step.onTimeout = .allow
                steps.append(step)
            case .fallback(let group):
                step.onTimeout = .fallback
                steps.append(step)
                steps.append(
                    ApprovalStep(
                        stage: index,
                        stageCount: stages.count,
                        name: name,
                        approvers: group,
                        requiredApprovals: stage.requiredApprovals,
                        timeoutSeconds: timeout,
                        onTimeout: .deny,
                        isFallback: true
                    )
                )
            }
        }
        return steps
    }

    /// The step after `phase` that an approval (or a waiver) of its stage leads to: the first step
    /// of the next stage, or nil when this was the last stage.
    static func nextStage(after phase: Int, in steps: [ApprovalStep]) -> Int? {
        guard phase < steps.count else { return nil }
        let stage = steps[phase].stage
        return steps.indices.first { $0 > phase && steps[$0].stage == stage + 1 }
    }

    /// "stage 2 of 2 (compliance)", with "fallback group" for a fallback step.
    var label: String {
        "stage \(stage + 1) of \(stageCount) (\(name)\(isFallback ? ", fallback group" : ""))"
    }

    /// The timeout action as the single-stage field says it: `allow` only for a waived last
    /// stage (the request is then allowed); else `deny` (the notice's `stage.on_timeout` says
    /// when the deadline moves the request on instead).
    var finalTimeoutAction: FinalDecision { onTimeout == .allow && stage == stageCount - 1 ? .allow : .deny }

    // MARK: Storage

    static func encode(_ steps: [ApprovalStep]) -> String {
        var w = JSONWriter(reservingCapacity: 256)
        w.beginArray()
        for step in steps {
            w.beginObject()
            w.objectField("stage", step.stage)
            w.objectField("stages", step.stageCount)
            w.objectField("name", step.name)
            w.key("approvers")
            w.beginArray()
            for approver in step.approvers { w.string(approver) }
            w.endArray()
            w.objectField("required_approvals", step.requiredApprovals)
            w.objectField("timeout_seconds", step.timeoutSeconds)
            w.objectField("on_timeout", step.onTimeout.rawValue)
            w.objectField("fallback", step.isFallback)
            w.endObject()
        }
        w.endArray()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The stored steps, or nil when the text cannot be read (the caller fails closed).
    static func decode(_ text: String) -> [ApprovalStep]? {
        guard case .array(let items)? = try? JSONValue.parse(Array(text.utf8)), !items.isEmpty else { return nil }
        var steps: [ApprovalStep] = []
        for item in items {
            guard let stage = item["stage"]?.intValue, let count = item["stages"]?.intValue,
                let name = item["name"]?.stringValue,
                let approvers = item["approvers"]?.arrayValue?.compactMap(\.stringValue), !approvers.isEmpty,
                let required = item["required_approvals"]?.intValue, required >= 1,
                let timeout = item["timeout_seconds"]?.intValue, timeout >= 1,
                let onTimeout = item["on_timeout"]?.stringValue.flatMap(OnTimeout.init(rawValue:)),
                let fallback = item["fallback"]?.boolValue
            else { return nil }
            steps.append(
                ApprovalStep(
                    stage: Int(stage),
                    stageCount: Int(count),
                    name: name,
                    approvers: approvers,
                    requiredApprovals: Int(required),
                    timeoutSeconds: Int(timeout),
                    onTimeout: onTimeout,
                    isFallback: fallback
                )
            )
        }
        return consistent(steps) ? steps : nil
    }

    /// Whether stored steps fit together as `steps(_:defaultTimeout:)` makes them: stages 0..n-1
    /// in order, each one step or a step with `on_timeout: fallback` followed by its fallback
    /// group (which denies). Anything else is unreadable: it must never move a request past a
    /// stage.
    static func consistent(_ steps: [ApprovalStep]) -> Bool {
        guard let count = steps.first?.stageCount, count >= 1 else { return false }
        var index = 0
        for stage in 0..<count {
            guard index < steps.count else { return false }
            let step = steps[index]
            guard step.stage == stage, step.stageCount == count, !step.isFallback else { return false }
            index += 1
            if step.onTimeout == .fallback {
                guard index < steps.count else { return false }
                let fallback = steps[index]
                guard fallback.stage == stage, fallback.stageCount == count, fallback.isFallback,
                    fallback.onTimeout == .deny
                else { return false }
                index += 1
            }
        }
        return index == steps.count
    }
}
