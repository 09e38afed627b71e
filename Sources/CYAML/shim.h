// libyaml 0.2 (Debian's libyaml-0-2): the YAML parser of the agent's configuration, read event by
// event in Sources/ConfigLoader/YAMLReader.swift, the one Swift adapter over it.
#include <yaml.h>
