// Package config is earshot's configuration file: its typed schema
// (types.go), the embedded demo configuration (default.yaml), strict
// parsing with defaults, and validation that reports every problem at once
// as "file:line: field: problem".
//
// Parse reads YAML into a yaml.Node tree first and decodes it with its own
// type-driven walker rather than yaml.Unmarshal: that is what lets it name
// the line of an unknown key, a duplicate key or a value of the wrong type,
// and carry on to report the next one. Semantic checks then run on the
// typed Config and get their lines by walking the tree along the field
// path. The field docs are in docs/config.md.
//
// Ownership and concurrency: Parse, Load and Default return a new *Config
// owned by the caller; nothing in this package keeps a reference to it or
// holds any state between calls. A Config is plain data with no locks:
// share it read-only between goroutines once built (earshot never changes
// it after start-up), or give each user its own copy. The read-only helpers
// (Validate, UserModes, DemoCredentials, NonLoopbackListeners, CheckSafety)
// do not modify it; SetDefaults does.
//
// This package imports nothing else of earshot; every other package may
// import it, though most take their own small Config built from it by
// cmd/earshot.
package config
