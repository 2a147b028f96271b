// Package e2e holds earshot's end-to-end tests: the whole program (media
// engine, b2bua, HTTP) started in-process on loopback, driven by test
// phones that send distinct tones and judge who hears whom on the decoded
// audio.
package e2e
