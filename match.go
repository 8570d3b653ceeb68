package hookd

import (
	"encoding/json"
	"reflect"
	"strings"
)

// MatchEventType reports whether an event type matches a pattern: "*" matches
// every type, "job.*" every type that starts with "job.", anything else only
// itself.
func MatchEventType(pattern, eventType string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(eventType, prefix)
	}
	return pattern == eventType
}

// Matches reports whether the webhook should receive an event of the given
// type, owner and decoded data: it is active, one of its patterns matches (no
// patterns means all), its owner (when set) is the event's owner, and each
// filter equals the data's top-level field of that name (a filter whose value
// is a list matches any of its elements).
func (w *Webhook) Matches(eventType, ownerID string, data map[string]any) bool {
	if !w.Active {
		return false
	}
	if w.OwnerID != "" && w.OwnerID != ownerID {
		return false
	}
	if len(w.Events) > 0 {
		ok := false
		for _, p := range w.Events {
			if MatchEventType(p, eventType) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for k, want := range w.Filters {
		got, present := data[k]
		if !present {
			return false
		}
		if list, isList := want.([]any); isList {
			any := false
			for _, v := range list {
				if jsonEqual(v, got) {
					any = true
					break
				}
			}
			if !any {
				return false
			}
		} else if !jsonEqual(want, got) {
			return false
		}
	}
	return true
}

// jsonEqual compares two values decoded by encoding/json (numbers may be
// float64 or json.Number).
func jsonEqual(a, b any) bool {
	if an, ok := a.(json.Number); ok {
		a = numberValue(an)
	}
	if bn, ok := b.(json.Number); ok {
		b = numberValue(bn)
	}
	return reflect.DeepEqual(a, b)
}

func numberValue(n json.Number) any {
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	return f
}
