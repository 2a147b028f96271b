// Package archtest has no code of its own: its test runs `go list -deps`
// over the module and fails on any import that points against the
// direction the architecture fixes (leaves never import back toward cmd).
package archtest
