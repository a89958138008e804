import TollgateJSON

/// A notice as a Slack message (incoming webhooks, `chat.postMessage`, and the many chat tools
/// that take the same body): a `text` for notifications and screen readers, and `blocks` with
/// the agent, tool, arguments, reason, deadline and quorum, and a button to the inbox's page for
/// the request when the inbox's address is known.
public enum SlackMessage {
    /// Slack's limits: header text 150 characters, a section's text 3000.
    static let headerLimit = 150
    static let sectionLimit = 3000

    public static func render(routingKey: String, notice: JSONObject, inboxURL: String?) -> [UInt8] {
        let event = String(routingKey.prefix { $0 != "." })
        let tool = notice["tool_name"]?.stringValue ?? String(routingKey.drop { $0 != "." }.dropFirst())
        let agent = notice["agent_id"]?.stringValue ?? "an agent"
        let requestID = notice["request_id"]?.stringValue
        var blocks: [JSONValue] = []
        let text: String
        switch event {
        case "pending":
            let stage = notice["stage"]?.objectValue
            let stageWords = stage.flatMap { s -> String? in
                guard let index = s["index"]?.intValue, let count = s["count"]?.intValue else { return nil }
                let name = s["name"]?.stringValue.map { " (\($0))" } ?? ""
                return "stage \(index) of \(count)\(name)"
            }
            text = "Approval needed: \(agent) wants to call \(tool)" + (stageWords.map { ", \($0)" } ?? "")
            blocks.append(header("Approval needed: \(tool)"))
            blocks.append(section(callSummary(notice, agent: agent, tool: tool)))
            blocks.append(fields(requestFields(notice, stage: stageWords)))
            blocks.append(section("*Arguments*\n" + codeBlock(notice["arguments"])))
        case "voted":
            let approvals = notice["approvals"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let denials = notice["denials"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let needed = notice["quorum"]?["required_approvals"]?.intValue ?? 1
            text = "\(tool) for \(agent): \(approvals.count) of \(needed) approvals"
            blocks.append(
                section("*\(escape(tool))* for *\(escape(agent))*: \(approvals.count) of \(needed) approvals")
            )
            var lines: [String] = []
            if !approvals.isEmpty { lines.append("Approved by " + approvals.map(escape).joined(separator: ", ")) }
            if !denials.isEmpty { lines.append("Denied by " + denials.map(escape).joined(separator: ", ")) }
            if let note = notice["note"]?.stringValue { lines.append(escape(note)) }
            if !lines.isEmpty { blocks.append(section(lines.joined(separator: "\n"))) }
        case "resolved":
            let decision = notice["decision"]?.stringValue ?? "deny"
            let verb = decision == "allow" ? "Allowed" : "Denied"
            let why = notice["reason"]?.stringValue ?? ""
            text = "\(verb): \(tool) for \(agent)" + (why.isEmpty ? "" : ": \(why)")
            blocks.append(
                section(
                    "\(decision == "allow" ? ":white_check_mark:" : ":no_entry:") *\(verb)*: `\(escape(tool))` for *\(escape(agent))*"
                        + (why.isEmpty ? "" : "\n>\(escape(why))")
                )
            )
        case "limited":
            let why = notice["message"]?.stringValue ?? notice["reason"]?.stringValue ?? "an escalation limit"
            text = "\(agent) is escalating too often: \(tool) denied (\(why))"
            blocks.append(header("Escalations limited: \(agent)"))
            blocks.append(
                section(
                    ":warning: *\(escape(agent))* asked for `\(escape(tool))` past its limit: denied.\n>\(escape(why))"
                )
            )
        case "revoked":
            let grant = notice["grant"]?.objectValue
            let by = notice["revoked_by"]?.stringValue ?? grant?["revoked_by"]?.stringValue ?? "someone"
            text = "Standing grant for \(tool) (\(agent)) revoked by \(by)"
            blocks.append(section("Standing grant for `\(escape(tool))` (*\(escape(agent))*) revoked by \(escape(by))"))
        default:
            text = "\(event): \(tool) for \(agent)"
            blocks.append(section(escape(text)))
        }
        if event == "pending" || event == "voted", let inboxURL, let requestID {
            blocks.append(
                [
                    "type": "actions",
                    "elements": [
                        [
                            "type": "button", "style": "primary",
                            "text": ["type": "plain_text", "text": "Open in the inbox"],
                            "url": .string(inboxLink(inboxURL, requestID: requestID)),
                        ]
                    ],
                ]
            )
        }
        var context: [String] = []
        if let requestID { context.append("request `\(escape(requestID))`") }
        if let version = notice["policy_version"]?.stringValue { context.append("policy `\(escape(version))`") }
        if !context.isEmpty {
            blocks.append([
                "type": "context", "elements": [["type": "mrkdwn", "text": .string(context.joined(separator: " · "))]],
            ])
        }
        // The top-level text is shown in notifications as mrkdwn too: escaped like the blocks.
        let message: JSONValue = ["text": .string(escape(text)), "blocks": .array(blocks)]
        return message.serialized()
    }

    /// The inbox's page for one request: the inbox shows it first and marked.
    public static func inboxLink(_ inboxURL: String, requestID: String) -> String {
        var base = inboxURL
        while base.hasSuffix("/") { base.removeLast() }
        let id = requestID.unicodeScalars.map { c -> String in
            let safe =
                (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
                || "-_.~".unicodeScalars.contains(c)
            return safe
                ? String(c)
                : String(c).utf8.map { byte in
                    let hex = String(byte, radix: 16, uppercase: true)
                    return "%" + (hex.count == 1 ? "0" + hex : hex)
                }.joined()
        }.joined()
        return base + "/#request=" + id
    }

    static func callSummary(_ notice: JSONObject, agent: String, tool: String) -> String {
        var text = "*\(escape(agent))* wants to call `\(escape(tool))`"
        if let reason = notice["reason"]?.stringValue, !reason.isEmpty { text += "\n>\(escape(reason))" }
        if let message = notice["message"]?.stringValue, !message.isEmpty { text += "\n_\(escape(message))_" }
        return text
    }

    static func requestFields(_ notice: JSONObject, stage: String?) -> [String] {
        var out = [
            "*Agent*\n\(escape(notice["agent_id"]?.stringValue ?? "?"))",
            "*Tool*\n`\(escape(notice["tool_name"]?.stringValue ?? "?"))`",
        ]
        if let rule = notice["rule"]?.stringValue { out.append("*Rule*\n\(escape(rule))") }
        if let deadline = notice["deadline"]?.stringValue {
            let then = notice["timeout_action"]?.stringValue.map { " (then \($0))" } ?? ""
            out.append("*Deadline*\n\(slackDate(deadline))\(then)")
        }
        if let quorum = notice["quorum"]?.objectValue {
            let needed = quorum["required_approvals"]?.intValue ?? 1
            let approvers = quorum["approvers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let who = approvers.isEmpty ? "anyone" : approvers.map(escape).joined(separator: ", ")
            out.append("*Approvals needed*\n\(needed) from \(who)")
        }
        if let stage { out.append("*Stage*\n\(escape(stage))") }
        return out
    }

    /// A deadline as Slack's date token (shown in each reader's time zone), with the UTC text
    /// as the fallback.
    static func slackDate(_ iso: String) -> String {
        guard let seconds = RetryPolicy.isoSeconds(iso) else { return escape(iso) }
        return "<!date^\(seconds)^{date_short_pretty} {time}|\(escape(iso))>"
    }

    static func codeBlock(_ value: JSONValue?) -> String {
        var json = value.map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "{}"
        let limit = sectionLimit - 40
        if json.count > limit { json = String(json.prefix(limit)) + "…" }
        return "```" + escape(json) + "```"
    }

    /// Slack's three control characters in text.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }

    static func header(_ text: String) -> JSONValue {
        let clipped = text.count > headerLimit ? String(text.prefix(headerLimit - 1)) + "…" : text
        return ["type": "header", "text": ["type": "plain_text", "text": .string(clipped)]]
    }

    static func section(_ markdown: String) -> JSONValue {
        let clipped = markdown.count > sectionLimit ? String(markdown.prefix(sectionLimit - 1)) + "…" : markdown
        return ["type": "section", "text": ["type": "mrkdwn", "text": .string(clipped)]]
    }

    static func fields(_ items: [String]) -> JSONValue {
        // At most 10 fields of 2000 characters each.
        [
            "type": "section",
            "fields": .array(items.prefix(10).map { ["type": "mrkdwn", "text": .string(String($0.prefix(2000)))] }),
        ]
    }
}

extension RetryPolicy {
    /// `YYYY-MM-DDTHH:MM:SSZ` as seconds since 1970.
    static func isoSeconds(_ iso: String) -> Int64? {
        let u = Array(iso.utf8)
        guard u.count == 20, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58, u[19] == 90 else {
            return nil
        }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: u[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), (1...12).contains(month), let day = number(8..<10),
            let h = number(11..<13), let m = number(14..<16), let s = number(17..<19)
        else { return nil }
        return epochSeconds(year: year, month: month, day: day, h, m, s)
    }
}
