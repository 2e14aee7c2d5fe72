// BLAKE2s for WireGuard: Debian's libb2 (the BLAKE2 authors' library). BLAKE2s is in none of
// swift-crypto, BoringSSL or libsodium; see tunnel/Sources/WireGuardCrypto/BLAKE2s.swift.
#include <blake2.h>
