import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Makes commits durable off the committing thread, for `--durability full` in the worker.
///
/// The store's connection commits with `synchronous=NORMAL`: a commit writes its frames to the
/// WAL and returns without waiting for the disk. The committer then asks for a ticket
/// (`request()`); a thread of this syncer calls `fdatasync` on the WAL and moves `completed` up
/// to every ticket asked for before that call, which makes those commits as durable as
/// `synchronous=FULL` would have (one WAL sync per commit there, one per round of commits here,
/// a group commit). Whoever publishes what a commit caused must wait until `completed` covers
/// its ticket: nothing is published or acked before it is on disk. `wakeFD` becomes readable
/// each time `completed` moves or a sync fails, so an event loop can wait on it with its socket.
///
/// Checkpoints (copying the WAL into the database file, and its two syncs) run on a second
/// connection on a thread of their own, `PASSIVE` (never blocking the committer), once the WAL
/// holds `checkpointFrames` frames; past `hardLimitFrames` (checkpoints that never catch up) the
/// committer checkpoints itself (`Store.transaction`).
///
/// A failed sync is kept (`failure`) and every later ticket fails with it: the committed but
/// unsynced transactions may not be on disk, so their effects must not be published. The store
/// that owns the syncer stops it when it closes.
public final class StoreSyncer: @unchecked Sendable {
    /// WAL frames (pages) after which the checkpoint thread copies the WAL into the database.
    static let checkpointFrames: Int32 = 1000
    /// WAL frames after which the committing connection checkpoints itself, blocking.
    static let hardLimitFrames: Int32 = 8_000

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var requested: UInt64 = 0
    private var done: UInt64 = 0
    private var failed: StoreError?
    private var checkpointWanted = false
    private var stopping = false
    private var threadsRunning = 0

    private let walFD: Int32
    private let walPath: String
    private let checkpointer: SQLiteDatabase
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Frames in the WAL after the last commit (from SQLite's WAL hook, on the committer's thread).
    private(set) var walFrames: Int32 = 0

    /// A sync made to wait or to fail, for the tests (the worker's `TOLLGATE_FAULT`).
    public enum Fault: Sendable {
        /// Do not sync yet (`sync-hold-file`): commits stay unsynced while it lasts.
        case hold
        /// Report the sync as failed with EIO after 50 ms, as `fdatasync` does when the disk
        /// fails it (after its retries) (`sync-fail-file`).
        case fail
    }

    /// Asked before every sync; nil in production.
    private let fault: (@Sendable () -> Fault?)?

    /// Opens the WAL of the database at `path` and a connection for checkpoints, and starts the
    /// two threads.
    init(databasePath path: String, fault: (@Sendable () -> Fault?)? = nil) throws(StoreError) {
        self.fault = fault
        walPath = path + "-wal"
        // SQLite made the WAL when the connection first read in WAL mode; made here if not yet.
        let fd = open(walPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError(
                kind: .io,
                message: "cannot open \(walPath) to sync it: \(String(cString: strerror(errno)))"
            )
        }
        // The WAL's directory entry, once: SQLite syncs it at its own first sync of the WAL,
        // which under synchronous=NORMAL is a checkpoint's, later than the first commit's.
        let directory = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            throw StoreError(kind: .io, message: "cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        for end in pipeFDs {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL, 0) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        do {
            checkpointer = try SQLiteDatabase(path: path, busyTimeoutMilliseconds: 0)
            try checkpointer.execute("PRAGMA synchronous=NORMAL")
        } catch {
            close(fd)
            close(pipeFDs[0])
            close(pipeFDs[1])
            throw error
        }
        walFD = fd
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        start("tollgate-sync") { [self] in syncLoop() }
        start("tollgate-ckpt") { [self] in checkpointLoop() }
    }

    /// Readable when `completed` moved or a sync failed; read it empty with `drainWake()`.
    public var wakeFD: Int32 { wakeRead }

    /// After a commit: a ticket that `completed` reaches once that commit is on disk.
    public func request() -> UInt64 {
        condition.lock()
        requested += 1
        let ticket = requested
        condition.broadcast()
        condition.unlock()
        return ticket
    }

    /// Every ticket up to this one is durable.
    public var completed: UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return done
    }

    /// The sync that failed, if one did: tickets above `completed` will not complete.
    public var failure: StoreError? {
        condition.lock()
        defer { condition.unlock() }
        return failed
    }

    /// Empties the wake pipe.
    public func drainWake() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    /// Blocks until every ticket asked for is durable; throws the failure if a sync failed.
    public func waitForAll() throws(StoreError) {
        condition.lock()
        while done < requested, failed == nil { condition.wait() }
        let failure = failed
        condition.unlock()
        if let failure { throw failure }
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Called by SQLite's WAL hook after each commit (on the committer's thread).
    func walCommitted(frames: Int32) {
        walFrames = frames
        guard frames >= Self.checkpointFrames else { return }
        condition.lock()
        if !checkpointWanted {
            checkpointWanted = true
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Syncs what was asked for, stops both threads and closes the files. Idempotent.
    func stop() {
        condition.lock()
        guard !stopping else {
            condition.unlock()
            return
        }
        stopping = true
        condition.broadcast()
        while threadsRunning > 0 { condition.wait() }
        condition.unlock()
        checkpointer.close()
        close(walFD)
        close(wakeRead)
        close(wakeWrite)
    }

    deinit { stop() }

    private func start(_ name: String, _ body: @escaping @Sendable () -> Void) {
        condition.lock()
        threadsRunning += 1
        condition.unlock()
        let thread = Thread { [self] in
            try? Data(name.utf8).write(to: URL(fileURLWithPath: "/proc/thread-self/comm"))
            body()
            condition.lock()
            threadsRunning -= 1
            condition.broadcast()
            condition.unlock()
        }
        thread.name = name
        thread.start()
    }

    /// Syncs the WAL whenever a ticket is waiting; finishes what was asked for before it stops.
    private func syncLoop() {
        while true {
            condition.lock()
            while done == requested, !stopping, failed == nil { condition.wait() }
            if failed != nil || (stopping && done == requested) {
                condition.unlock()
                return
            }
            condition.unlock()
            var injected = fault?()
            while injected == .hold, !isStopping {
                usleep(10_000)
                injected = fault?()
            }
            condition.lock()
            let target = requested
            condition.unlock()
            let error: Int32?
            if injected == .fail {
                usleep(50_000)
                error = EIO
            } else {
                error = fdatasync(walFD) == 0 ? nil : errno
            }
            condition.lock()
            if let error {
                failed = StoreError(
                    kind: error == ENOSPC ? .full : error == EROFS ? .readOnly : .io,
                    code: SQLITE_IOERR | (4 << 8),  // SQLITE_IOERR_FSYNC
                    message: "syncing \(walPath) failed: \(String(cString: strerror(error)))"
                )
            } else {
                done = target
            }
            condition.broadcast()
            condition.unlock()
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }

    /// Copies the WAL into the database file when the committer's hook asks for it.
    private func checkpointLoop() {
        while true {
            condition.lock()
            while !checkpointWanted, !stopping { condition.wait() }
            if stopping {
                condition.unlock()
                return
            }
            checkpointWanted = false
            condition.unlock()
            // PASSIVE: copies what no reader needs, never waits for the committer; an error
            // (a busy lock, a full disk) leaves the WAL as it is, to be copied next time.
            checkpointer.checkpoint(.passive)
        }
    }
}
