package config

import (
	"bytes"
	_ "embed"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns a copy of the embedded demo configuration: the file
// `make run` uses on a fresh machine, with comments. It holds demo
// credentials and listens on loopback only.
func DefaultYAML() []byte {
	return bytes.Clone(defaultYAML)
}

// Default returns the embedded demo configuration, parsed and validated.
// Each call returns a new Config that the caller may change. It panics only
// if the embedded file is broken, which TestDefaultParses rules out.
func Default() *Config {
	cfg, err := Parse("default.yaml", defaultYAML)
	if err != nil {
		panic("config: embedded default.yaml is invalid:\n" + err.Error())
	}
	return cfg
}
