import COpenSSL

/// The oldest queued libcrypto error as text, and clears the queue: the adapter's one mapping of
/// libcrypto's failures to words.
func libcryptoError() -> String {
    let code = ERR_get_error()
    ERR_clear_error()
    guard code != 0, let text = ERR_reason_error_string(code) else { return "unknown error" }
    return String(cString: text)
}
