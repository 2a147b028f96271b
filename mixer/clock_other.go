//go:build !linux

package mixer

// sleepUntil is timerSleep where no better clock is wired.
var sleepUntil = timerSleep
