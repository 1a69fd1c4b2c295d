import Synchronization

/// Wakes the scoring loop. Signals coalesce: any number of them while the loop is busy leave one pending
/// wake-up, so a burst of notifications causes one claim, not one each.
public final class WakeSignal: Sendable {
    /// Signals that every signal of this one also reaches (one LISTEN connection wakes several loops).
    private let forwards: [WakeSignal]

    public init(forwardingTo forwards: [WakeSignal] = []) { self.forwards = forwards }
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Records a wake-up; resumes the waiting loop if there is one.
    public func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter { s.waiter = nil; return w }
            s.pending = true
            return nil
        }
        waiter?.resume()
        for f in forwards { f.signal() }
    }

    /// Returns true when woken (or a wake-up was already pending), false after `timeout` or on cancellation.
    public func wait(timeout: Duration) async -> Bool {
        if state.withLock({ s in
            defer { s.pending = false }; return s.pending
        }) {
            return true
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitForSignal(); return !Task.isCancelled
            }
            group.addTask {
                try? await Task.sleep(for: timeout); return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func waitForSignal() async {
        state.withLock { $0.cancelled = false }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.pending || s.cancelled { s.pending = false; return true }
                    s.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            // Under the same lock as the waiter is stored, so a cancellation is never missed.
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                s.cancelled = true
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
