// The system's libcrypto (OpenSSL 3), which libmosquitto's TLS already maps into the daemon:
// only the certificate calls `parkguardd doctor` needs (read a PEM certificate, its expiry, a
// chain check against the CA file).
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/err.h>
#include <openssl/asn1.h>
