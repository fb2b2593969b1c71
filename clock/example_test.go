package clock_test

import (
	"fmt"
	"time"

	"github.com/authd-dev/authd/clock"
)

// A test moves a Fake clock instead of sleeping: timers fire when it has
// been advanced past them.
func ExampleFake() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	fired := make(chan time.Time)
	clk.AfterFunc(15*time.Minute, func() { fired <- clk.Now() })
	clk.Advance(10 * time.Minute)
	clk.Advance(5 * time.Minute)
	fmt.Println((<-fired).Format(time.Kitchen))
	// Output: 9:15AM
}
