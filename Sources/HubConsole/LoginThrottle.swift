import Foundation

/// Slows password guessing, per account and per client address. Pure: the caller passes the time.
///
/// Failures are counted over a sliding ``Limits/window``. Once an account (or an address) has
/// ``Limits/perAccount`` (``Limits/perAddress``) failures in it, it gets one attempt per
/// ``Limits/spacing``, not a lockout: a lockout would let anyone who reaches the console keep a
/// real operator out during an emergency by typing wrong passwords under their name, while one
/// guess every 30 s is about 3,000 a day against a bcrypt hash of a password of 10 or more
/// characters. A success clears the account's failures (not the address's earlier ones).
///
/// Memory is bounded: at most ``Limits/maxTracked`` keys; past that, keys whose failures have all
/// left the window go first, then the least recently failed.
public struct LoginThrottle: Sendable {
    public struct Limits: Sendable {
        public var perAccount = 5
        public var perAddress = 20
        public var window: TimeInterval = 15 * 60
        public var spacing: TimeInterval = 30
        public var maxTracked = 10_000
        public init() {}
    }

    public let limits: Limits
    private var failures: [String: [Date]] = [:]

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Seconds until `account` may try again from `address`; nil: it may try now.
    public func retryAfter(account: String, address: String, now: Date) -> TimeInterval? {
        let waits = [wait(Self.key(account: account), limit: limits.perAccount, now: now),
                     wait(Self.key(address: address), limit: limits.perAddress, now: now)].compactMap { $0 }
        return waits.max()
    }

    /// Counts a failed attempt.
    public mutating func failed(account: String, address: String, now: Date) {
        add(Self.key(account: account), limit: limits.perAccount, now: now)
        add(Self.key(address: address), limit: limits.perAddress, now: now)
        if failures.count > limits.maxTracked { prune(now: now) }
    }

    /// After a successful login: clears the account's failures and takes back the one this attempt
    /// counted for the address (attempts are counted as failures before they are checked).
    public mutating func succeeded(account: String, address: String) {
        failures[Self.key(account: account)] = nil
        let key = Self.key(address: address)
        if var times = failures[key], !times.isEmpty {
            times.removeLast()
            failures[key] = times.isEmpty ? nil : times
        }
    }

    /// How many keys are tracked (for tests and figures).
    public var tracked: Int { failures.count }

    private func wait(_ key: String, limit: Int, now: Date) -> TimeInterval? {
        guard let times = failures[key] else { return nil }
        let recent = times.filter { now.timeIntervalSince($0) < limits.window }
        guard recent.count >= limit, let last = recent.last else { return nil }
        let wait = limits.spacing - now.timeIntervalSince(last)
        return wait > 0 ? wait : nil
    }

    private mutating func add(_ key: String, limit: Int, now: Date) {
        var times = failures[key, default: []].filter { now.timeIntervalSince($0) < limits.window }
        times.append(now)
        // Only the newest `limit` failures decide anything; keeping more would let one key grow.
        if times.count > limit { times.removeFirst(times.count - limit) }
        failures[key] = times
    }

    private mutating func prune(now: Date) {
        failures = failures.filter { _, times in times.contains { now.timeIntervalSince($0) < limits.window } }
        guard failures.count > limits.maxTracked else { return }
        let oldest = failures.sorted { ($0.value.last ?? .distantPast) < ($1.value.last ?? .distantPast) }.prefix(failures.count - limits.maxTracked)
        for (key, _) in oldest { failures[key] = nil }
    }

    private static func key(account: String) -> String { "account " + account }
    private static func key(address: String) -> String { "address " + address }
}
