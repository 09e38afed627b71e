#ifndef PARKGUARD_CLIBFUZZER_H
#define PARKGUARD_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver on `callback` when the binary was linked with libFuzzer
/// (`-sanitize=fuzzer`); returns -1 otherwise.
int parkguard_fuzz_run_driver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
