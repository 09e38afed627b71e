// The system's libcrypto (OpenSSL 3), which libmosquitto's TLS already maps into the daemon:
// the certificate checks of `parkguardd doctor` (read a PEM certificate, its expiry, a chain
// check against the CA file), the camera probes' digests and the signed commands' ECDSA P-256
// verification, and the unit's own key and signing request (`parkguardd csr`) (Sources/SystemCrypto,
// the one Swift adapter over it).
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/err.h>
#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
