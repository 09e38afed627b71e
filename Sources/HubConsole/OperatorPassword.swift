import HummingbirdBcrypt
import NIOPosix

/// Operators' passwords: bcrypt (hummingbird-auth's HummingbirdBcrypt), hashed and verified on
/// NIO's thread pool so a login never holds an event loop for the hash's quarter second.
public enum OperatorPassword {
    /// bcrypt's cost (log2 of its rounds): about 0.2 s per hash or check on a 2024 server core.
    public static let cost: UInt8 = 12

    /// Why `password` cannot be an operator's password, or nil. bcrypt reads at most 72 bytes;
    /// a longer password would be silently cut, so it is refused instead.
    public static func problem(with password: String) -> String? {
        let bytes = password.utf8.count
        if bytes < 10 { return "a password needs at least 10 characters" }
        if bytes > 72 { return "a password is at most 72 bytes (bcrypt reads no more)" }
        if password.contains(where: { $0.isNewline || $0 == "\0" }) { return "a password is one line" }
        return nil
    }

    public static func hash(_ password: String) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public static func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// Spends a check's time on a hash no password matches: for an unknown name, so that a wrong
    /// name takes as long as a wrong password (the answer does not tell which names exist).
    public static func verifyNothing(_ password: String) async throws {
        _ = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: decoy) }
    }

    private static let decoy = Bcrypt.hash("parkguard decoy password, never an operator's", cost: cost)
}
