// The hub's pure core lives in its own module (no GRDB, no Crypto) so the fuzzer can drive it;
// every user of the hub gets it with `import ParkGuardHub`.
@_exported import HubIngest
