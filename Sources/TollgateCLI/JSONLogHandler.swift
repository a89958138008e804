import Foundation
import Logging
import TollgateJSON
import TollgateWorker

/// `--log-format json`: one JSON object per line on standard error, for log pipelines:
/// `{"time":"...","level":"info","label":"tollgate.worker","message":"...","worker_id":"w1",...}`,
/// every metadata key (`request_id`, `agent_id`, `worker_id`, `error`, ...) a field of its own.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        var w = JSONWriter(reservingCapacity: 256)
        w.beginObject()
        w.objectField("time", isoTime(withMilliseconds: wallClockMillis()))
        w.objectField("level", event.level.rawValue)
        w.objectField("label", label)
        w.objectField("message", "\(event.message)")
        for key in fields.keys.sorted() where !["time", "level", "label", "message"].contains(key) {
            w.objectField(key, "\(fields[key]!)")
        }
        w.objectField("source", event.source)
        w.endObject()
        w.endLine()
        FileHandle.standardError.write(Data(w.bytes))
    }
}
