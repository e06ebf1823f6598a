package config

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// durationValue is a time.Duration flag whose parse errors say what is
// wrong. The flag package's own reports only "parse error", which leaves an
// operator who wrote HERALD_HEARTBEAT=15 guessing that 15s was meant.
type durationValue time.Duration

// durationVar defines a duration flag like flag.DurationVar.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

func (d *durationValue) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return (*time.Duration)(d).String() }

// Get makes the flag a flag.Getter, like the flag package's own values.
func (d *durationValue) Get() any { return time.Duration(*d) }

// ParseDuration is time.ParseDuration with errors that name the fix: a bare
// number gets "a duration needs a unit, e.g. 15s", anything else the
// syntax and the units.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	t := strings.TrimSpace(s)
	if _, nerr := strconv.ParseFloat(t, 64); nerr == nil && t != "0" {
		return 0, fmt.Errorf("a duration needs a unit, e.g. %ss (units: ns, us, ms, s, m, h)", t)
	}
	return 0, fmt.Errorf("not a duration; write a number and a unit, e.g. 90s or 1h30m (units: ns, us, ms, s, m, h)")
}

// durationTypeName puts "duration" back as the value name of durationValue
// flags in PrintDefaults output, which names the flag package's own
// duration type only and calls every other one "value".
func durationTypeName(fs *flag.FlagSet, usage string) string {
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(*durationValue); ok {
			usage = strings.Replace(usage, "  -"+f.Name+" value\n", "  -"+f.Name+" duration\n", 1)
		}
	})
	return usage
}
