package main

// The command-line client: every verb but `serve` talks to a running server
// through the client package, like any other API user.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
)

// runCLI runs one CLI verb. args are the program's arguments after its name:
// optional global flags, then the noun and verb ("webhooks list …"). It
// returns the exit status: 0 on success, 1 when the server refused or could
// not be reached, 2 for bad input (one line on stderr either way).
func runCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runCLIEnv(ctx, args, os.Getenv, stdin, stdout, stderr)
}

// runCLIEnv is runCLI with the environment given (for tests).
func runCLIEnv(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cl := &cli{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	err := cl.run(args)
	var ue *cliUsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "hookd: "+oneLine(ue.msg))
		return 2
	default:
		fmt.Fprintln(stderr, "hookd: "+oneLine(strings.TrimPrefix(err.Error(), "hookd client: ")))
		return 1
	}
}

// cliUsageError is bad input on the command line: exit status 2.
type cliUsageError struct{ msg string }

func (e *cliUsageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &cliUsageError{msg: fmt.Sprintf(format, args...)}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cli is one invocation.
type cli struct {
	ctx            context.Context
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer

	// global flags
	server, apiKey, dataDir, output string

	client *client.Client
}

// addGlobals registers the global flags on fs.
func (cl *cli) addGlobals(fs *flag.FlagSet) {
	fs.StringVar(&cl.server, "server", cl.server, "server `URL` (env HOOKD_SERVER)")
	fs.Var(cliSecret{&cl.apiKey}, "api-key", "API `key` hk_… (env HOOKD_API_KEY; else <data-dir>/admin.key)")
	fs.StringVar(&cl.dataDir, "data-dir", cl.dataDir, "data `directory` holding admin.key (env HOOKD_DATA_DIR)")
	fs.StringVar(&cl.output, "o", cl.output, "output `format`: json or table (default: table for lists, json otherwise)")
}

func (cl *cli) run(args []string) error {
	cl.server = cl.getenv("HOOKD_SERVER")
	if cl.server == "" {
		cl.server = "http://127.0.0.1:8080"
	}
	cl.dataDir = cl.getenv("HOOKD_DATA_DIR")
	if cl.dataDir == "" {
		cl.dataDir = "hookd-data"
	}

	fs := flag.NewFlagSet("hookd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cl.addGlobals(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cl.usage(cl.stdout)
			return err
		}
		return usagef("%v (see hookd help)", err)
	}
	args = fs.Args()
	if len(args) == 0 {
		return usagef("no command given (see hookd help)")
	}
	switch noun := args[0]; noun {
	case "help", "-help", "--help":
		if len(args) > 1 {
			if n := findNoun(args[1]); n != "" {
				cl.nounUsage(cl.stdout, n)
				return nil
			}
			return usagef("unknown command %q (see hookd help)", args[1])
		}
		cl.usage(cl.stdout)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintf(cl.stdout, "hookd %s\n", hookd.Version)
		return nil
	}
	noun := findNoun(args[0])
	if noun == "" {
		return usagef("unknown command %q (see hookd help)", args[0])
	}
	if len(args) < 2 {
		return usagef("%s: no verb given: %s (see hookd help %s)", noun, strings.Join(verbsOf(noun), ", "), noun)
	}
	if v := args[1]; v == "-h" || v == "-help" || v == "--help" || v == "help" {
		cl.nounUsage(cl.stdout, noun)
		return flag.ErrHelp
	}
	cmd := findCommand(noun, args[1])
	if cmd == nil {
		return usagef("%s: unknown verb %q (see hookd help %s)", noun, args[1], noun)
	}
	return cl.runCommand(cmd, args[2:])
}

// runCommand parses a verb's flags and arguments and runs it.
func (cl *cli) runCommand(cmd *cliCommand, args []string) error {
	name := cmd.noun + " " + cmd.verb
	fs := flag.NewFlagSet("hookd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	act := cmd.flags(fs)
	cl.addGlobals(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cl.commandUsage(cl.stdout, cmd, fs)
			return err
		}
		return usagef("%s: %v (see hookd %s -h)", name, err, name)
	}
	want := 0
	if cmd.args != "" {
		want = 1
	}
	if len(pos) != want {
		if want == 0 {
			return usagef("%s: unexpected argument %q (see hookd %s -h)", name, pos[0], name)
		}
		if len(pos) == 0 {
			return usagef("%s: missing %s (see hookd %s -h)", name, cmd.args, name)
		}
		return usagef("%s: too many arguments (see hookd %s -h)", name, name)
	}
	if want == 1 && strings.TrimSpace(pos[0]) == "" {
		return usagef("%s: empty %s", name, cmd.args)
	}
	switch cl.output {
	case "", "json", "table":
	default:
		return usagef("%s: -o must be json or table, not %q", name, cl.output)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	err = act(cl, &cliArgs{name: name, pos: pos, set: set})
	if ue := (*cliUsageError)(nil); errors.As(err, &ue) && !strings.HasPrefix(ue.msg, name+":") && !strings.HasPrefix(ue.msg, "no API key") {
		ue.msg = name + ": " + ue.msg
	}
	return err
}

// parseInterleaved parses flags that may come before or after the positional
// arguments ("get wh_1 -o json"); after "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// cliArgs is what a verb gets besides its flag values.
type cliArgs struct {
	name string          // "webhooks create"
	pos  []string        // positional arguments (the ID, when the verb takes one)
	set  map[string]bool // flags given on the command line
}

func (a *cliArgs) id() string { return a.pos[0] }

// changes counts the fields an update verb was given: set applies a field
// when its flag was on the command line.
type changes struct{ n int }

func (c *changes) set(a *cliArgs, name string, apply func()) {
	if a.set[name] {
		apply()
		c.n++
	}
}

// none is the usage error of an update given nothing to change.
func (c *changes) none(a *cliArgs) error {
	if c.n == 0 {
		return usagef("%s: nothing to change (see hookd %s -h)", a.name, a.name)
	}
	return nil
}

// api returns the client, resolving the server and the API key.
func (cl *cli) api() (*client.Client, error) {
	if cl.client != nil {
		return cl.client, nil
	}
	server := strings.TrimSpace(cl.server)
	if server == "" {
		return nil, usagef("--server is empty")
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	key := strings.TrimSpace(cl.apiKey)
	if key == "" {
		key = strings.TrimSpace(cl.getenv("HOOKD_API_KEY"))
	}
	if key == "" {
		path := filepath.Join(cl.dataDir, "admin.key")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, usagef("no API key: give --api-key or HOOKD_API_KEY, or run where %s is readable (%v)", path, errors.Unwrap(err))
		}
		key = strings.TrimSpace(string(b))
		if key == "" {
			return nil, usagef("no API key: %s is empty", path)
		}
	}
	cl.client = client.New(server, key, client.WithUserAgent("hookd-cli/"+hookd.Version), client.WithHTTPClient(cliHTTPClient()))
	return cl.client, nil
}

// cliHTTPClient is a client with a transport of the CLI's own, not
// http.DefaultTransport: whatever else runs in the process cannot close its
// connections under a request (an httptest server closing does that to
// http.DefaultTransport, and broke a request of a CLI test running beside
// it).
func cliHTTPClient() *http.Client {
	hc := &http.Client{}
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		hc.Transport = tr.Clone()
	}
	return hc
}

// ---- output ----

// cliTable renders a list of T as columns.
type cliTable[T any] struct {
	head []string
	row  func(*T) []string
}

// printList prints a page: a table unless -o json.
func printList[T any](cl *cli, l *client.List[T], tb cliTable[T]) error {
	if cl.output == "json" {
		return cl.printJSON(l)
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(tb.head, "\t"))
	for i := range l.Data {
		cells := tb.row(&l.Data[i])
		for j, c := range cells {
			if c == "" {
				cells[j] = "-"
			} else {
				cells[j] = oneLine(c)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// printOne prints one object: JSON unless -o table, then one "field value"
// line per member, in the answer's order.
func (cl *cli) printOne(v any) error {
	if cl.output != "table" {
		return cl.printJSON(v)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cl.stdout, 0, 4, 2, ' ', 0)
	if err := writeFields(tw, "", raw); err != nil {
		return err
	}
	return tw.Flush()
}

// writeFields writes the members of a JSON object as lines, nested objects
// flattened with dotted names.
func writeFields(w io.Writer, prefix string, raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		_, err := fmt.Fprintf(w, "%s\t%s\n", strings.TrimSuffix(prefix, "."), raw)
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return err
		}
		name := prefix + t.(string)
		switch {
		case string(val) == "null":
		case len(val) > 0 && val[0] == '{' && prefix == "" && string(val) != "{}":
			if err := writeFields(w, name+".", val); err != nil {
				return err
			}
		case len(val) > 0 && val[0] == '"':
			var s string
			_ = json.Unmarshal(val, &s)
			fmt.Fprintf(w, "%s\t%s\n", name, oneLine(s))
		default:
			fmt.Fprintf(w, "%s\t%s\n", name, val)
		}
	}
	return nil
}

func (cl *cli) printJSON(v any) error {
	enc := json.NewEncoder(cl.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtTime(*t)
}

func fmtInt(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// ---- flag helpers ----

// cliSecret is a string flag whose value -h never prints.
type cliSecret struct{ p *string }

func (s cliSecret) String() string { return "" }
func (s cliSecret) Set(v string) error {
	*s.p = v
	return nil
}

// cliList is a flag that may be repeated and takes comma-separated values.
type cliList []string

func (l *cliList) String() string { return strings.Join(*l, ",") }
func (l *cliList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// cliPairs is a repeatable KEY<sep>VALUE flag.
type cliPairs struct {
	sep string
	m   map[string]string
}

func (p *cliPairs) String() string {
	if p == nil || len(p.m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(p.m))
	for k := range p.m {
		keys = append(keys, k+p.sep+p.m[k])
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func (p *cliPairs) Set(v string) error {
	k, val, ok := strings.Cut(v, p.sep)
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("want KEY%sVALUE, got %q", p.sep, v)
	}
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[k] = strings.TrimSpace(val)
	return nil
}

// readJSONArg reads a JSON flag value: the JSON itself, @FILE, or - for
// stdin. It must be valid JSON (an object when object is set).
func (cl *cli) readJSONArg(flagName, v string, object bool) (json.RawMessage, error) {
	var b []byte
	switch {
	case v == "-":
		var err error
		if b, err = io.ReadAll(cl.stdin); err != nil {
			return nil, fmt.Errorf("--%s: reading stdin: %w", flagName, err)
		}
	case strings.HasPrefix(v, "@"):
		var err error
		if b, err = os.ReadFile(v[1:]); err != nil {
			return nil, usagef("--%s: %v", flagName, err)
		}
	default:
		b = []byte(v)
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, usagef("--%s: not valid JSON", flagName)
	}
	if object && b[0] != '{' {
		return nil, usagef("--%s: must be a JSON object", flagName)
	}
	return json.RawMessage(b), nil
}

// ---- commands ----

// cliCommand is one "noun verb".
type cliCommand struct {
	noun, verb string
	args       string // the positional argument's name ("ID"), "" for none
	summary    string
	// flags defines the verb's flags on fs and returns what runs it.
	flags func(fs *flag.FlagSet) cliAction
}

type cliAction func(cl *cli, a *cliArgs) error

// cliNouns lists the nouns in help order, with a line each.
var cliNouns = []struct{ name, summary string }{
	{"webhooks", "outbound subscriber endpoints"},
	{"events", "publish and read events"},
	{"deliveries", "one event to one webhook, with its attempts"},
	{"triggers", "inbound URLs that start jobs"},
	{"jobs", "units of work"},
	{"executions", "runs of jobs"},
	{"workspaces", "tenants (operator key)"},
	{"keys", "API keys of the workspace (admin scope)"},
}

func findNoun(s string) string {
	for _, n := range cliNouns {
		if s == n.name || s == strings.TrimSuffix(n.name, "s") || (n.name == "deliveries" && s == "delivery") {
			return n.name
		}
	}
	return ""
}

func findCommand(noun, verb string) *cliCommand {
	for i := range cliCommands {
		if cliCommands[i].noun == noun && cliCommands[i].verb == verb {
			return &cliCommands[i]
		}
	}
	return nil
}

// verbsOf lists a noun's verbs in table order.
func verbsOf(noun string) []string {
	var verbs []string
	for _, c := range cliCommands {
		if c.noun == noun {
			verbs = append(verbs, c.verb)
		}
	}
	return verbs
}

func (cl *cli) usage(w io.Writer) {
	fmt.Fprint(w, `hookd: webhooks in and out, in one binary.

usage:
  hookd serve [flags]                 run the server (see hookd serve -h)
  hookd [global flags] NOUN VERB [flags] [ID]
  hookd help [NOUN]                   this text, or a noun's verbs
  hookd version                       print the version

`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range cliNouns {
		fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", n.name, n.summary, strings.Join(verbsOf(n.name), ", "))
	}
	tw.Flush()
	fmt.Fprint(w, `
global flags (also accepted after the verb):
  --server URL      server address (env HOOKD_SERVER, default http://127.0.0.1:8080)
  --api-key KEY     API key hk_… (env HOOKD_API_KEY; else <data-dir>/admin.key)
  --data-dir DIR    where admin.key is (env HOOKD_DATA_DIR, default ./hookd-data)
  -o json|table     output format (default: table for lists, json otherwise)

Run "hookd NOUN VERB -h" for a verb's flags. Exit status: 0 ok, 1 the server
refused or could not be reached, 2 bad input.
`)
}

func (cl *cli) nounUsage(w io.Writer, noun string) {
	fmt.Fprintf(w, "usage: hookd %s VERB [flags]\n\nverbs:\n", noun)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cliCommands {
		if c.noun == noun {
			fmt.Fprintf(tw, "  %s %s\t%s\n", c.verb, c.args, c.summary)
		}
	}
	tw.Flush()
}

func (cl *cli) commandUsage(w io.Writer, cmd *cliCommand, fs *flag.FlagSet) {
	args := ""
	if cmd.args != "" {
		args = " " + cmd.args
	}
	fmt.Fprintf(w, "usage: hookd %s %s [flags]%s\n\n%s\n\nflags:\n", cmd.noun, cmd.verb, args, cmd.summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// pageFlags adds --limit and --offset.
func pageFlags(fs *flag.FlagSet) (limit, offset *int) {
	return fs.Int("limit", 0, "page size 1–100 (default 20)"), fs.Int("offset", 0, "skip this many")
}

// cliCommands is every verb.
var cliCommands []cliCommand

func init() {
	cliCommands = append(cliCommands, webhookCommands()...)
	cliCommands = append(cliCommands, eventCommands()...)
	cliCommands = append(cliCommands, deliveryCommands()...)
	cliCommands = append(cliCommands, triggerCommands()...)
	cliCommands = append(cliCommands, jobCommands()...)
	cliCommands = append(cliCommands, executionCommands()...)
	cliCommands = append(cliCommands, workspaceCommands()...)
	cliCommands = append(cliCommands, keyCommands()...)
}

// idAction is a verb that takes one ID and prints what fn returns.
func idAction[T any](fn func(c *client.Client, ctx context.Context, id string) (*T, error)) func(fs *flag.FlagSet) cliAction {
	return func(fs *flag.FlagSet) cliAction {
		return func(cl *cli, a *cliArgs) error {
			c, err := cl.api()
			if err != nil {
				return err
			}
			v, err := fn(c, cl.ctx, a.id())
			if err != nil {
				return err
			}
			return cl.printOne(v)
		}
	}
}

// deleteAction is a verb that deletes the object with the given ID.
func deleteAction(fn func(c *client.Client, ctx context.Context, id string) error) func(fs *flag.FlagSet) cliAction {
	return func(fs *flag.FlagSet) cliAction {
		return func(cl *cli, a *cliArgs) error {
			c, err := cl.api()
			if err != nil {
				return err
			}
			if err := fn(c, cl.ctx, a.id()); err != nil {
				return err
			}
			if cl.output == "json" {
				return cl.printJSON(map[string]string{"deleted": a.id()})
			}
			fmt.Fprintf(cl.stdout, "deleted %s\n", a.id())
			return nil
		}
	}
}

// ---- webhooks ----

var webhookTable = cliTable[client.Webhook]{
	head: []string{"ID", "URL", "EVENTS", "OWNER", "ACTIVE", "CREATED"},
	row: func(w *client.Webhook) []string {
		return []string{w.ID, w.URL, strings.Join(w.Events, ","), w.OwnerID, strconv.FormatBool(w.Active), fmtTime(w.CreatedAt)}
	},
}

// webhookFlags are the fields create and update share.
type webhookFlags struct {
	url, owner, description, filters string
	events                           cliList
	headers                          cliPairs
	maxAttempts, rateLimit           int
}

func (f *webhookFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "endpoint `URL` (https unless the server allows otherwise)")
	fs.Var(&f.events, "events", "event type `patterns`, comma-separated or repeated (\"*\", \"job.*\", exact types)")
	fs.StringVar(&f.filters, "filters", "", "data filters as a JSON object {\"field\": value} (or @FILE, - for stdin)")
	fs.StringVar(&f.owner, "owner", "", "owner `id` label")
	fs.StringVar(&f.description, "description", "", "description")
	fs.IntVar(&f.maxAttempts, "max-attempts", 0, "retry budget 1–20 (default 8)")
	fs.IntVar(&f.rateLimit, "rate-limit", 0, "deliveries per second, 0 = unlimited")
	f.headers.sep = ":"
	fs.Var(&f.headers, "header", "extra header `Name: value` sent with every delivery (repeatable)")
}

func (f *webhookFlags) filterMap(cl *cli) (map[string]any, error) {
	raw, err := cl.readJSONArg("filters", f.filters, true)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, usagef("--filters: %v", err)
	}
	return m, nil
}

func webhookCommands() []cliCommand {
	return []cliCommand{
		{noun: "webhooks", verb: "list", summary: "list webhooks, newest first", flags: func(fs *flag.FlagSet) cliAction {
			owner := fs.String("owner", "", "only this owner `id`")
			all := fs.Bool("all", false, "include inactive webhooks")
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListWebhooks(cl.ctx, client.WebhookFilter{OwnerID: *owner, IncludeInactive: *all, Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, webhookTable)
			}
		}},
		{noun: "webhooks", verb: "create", summary: "register an endpoint; prints its signing secret once", flags: func(fs *flag.FlagSet) cliAction {
			var f webhookFlags
			f.define(fs)
			return func(cl *cli, a *cliArgs) error {
				if f.url == "" {
					return usagef("%s: --url is required", a.name)
				}
				p := client.WebhookCreate{URL: f.url, Events: f.events, OwnerID: f.owner, Description: f.description,
					MaxAttempts: f.maxAttempts, RateLimitPerSecond: f.rateLimit, Headers: f.headers.m}
				if a.set["filters"] {
					m, err := f.filterMap(cl)
					if err != nil {
						return err
					}
					p.Filters = m
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				wh, err := c.CreateWebhook(cl.ctx, p)
				if err != nil {
					return err
				}
				return cl.printOne(wh)
			}
		}},
		{noun: "webhooks", verb: "get", args: "ID", summary: "show one webhook", flags: idAction((*client.Client).GetWebhook)},
		{noun: "webhooks", verb: "update", args: "ID", summary: "change the fields given (only those)", flags: func(fs *flag.FlagSet) cliAction {
			var f webhookFlags
			f.define(fs)
			active := fs.Bool("active", true, "activate (--active) or deactivate (--active=false)")
			return func(cl *cli, a *cliArgs) error {
				var p client.WebhookUpdate
				var ch changes
				set := func(name string, apply func()) { ch.set(a, name, apply) }
				set("url", func() { p.URL = &f.url })
				set("events", func() { p.Events = (*[]string)(&f.events) })
				set("owner", func() { p.OwnerID = &f.owner })
				set("description", func() { p.Description = &f.description })
				set("max-attempts", func() { p.MaxAttempts = &f.maxAttempts })
				set("rate-limit", func() { p.RateLimitPerSecond = &f.rateLimit })
				set("header", func() { p.Headers = &f.headers.m })
				set("active", func() { p.Active = active })
				if a.set["filters"] {
					m, err := f.filterMap(cl)
					if err != nil {
						return err
					}
					p.Filters = &m
					ch.n++
				}
				if err := ch.none(a); err != nil {
					return err
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				wh, err := c.UpdateWebhook(cl.ctx, a.id(), p)
				if err != nil {
					return err
				}
				return cl.printOne(wh)
			}
		}},
		{noun: "webhooks", verb: "delete", args: "ID", summary: "delete a webhook; its pending deliveries become dead", flags: deleteAction((*client.Client).DeleteWebhook)},
		{noun: "webhooks", verb: "rotate-secret", args: "ID", summary: "new signing secret, printed once; the old one signs beside it for --grace", flags: func(fs *flag.FlagSet) cliAction {
			grace := fs.Int("grace", client.DefaultGrace, "`seconds` the old secret keeps signing (default: the server's, 86400)")
			return func(cl *cli, a *cliArgs) error {
				if a.set["grace"] && *grace < 0 {
					return usagef("%s: --grace must be ≥ 0", a.name)
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				wh, err := c.RotateWebhookSecret(cl.ctx, a.id(), *grace)
				if err != nil {
					return err
				}
				return cl.printOne(wh)
			}
		}},
	}
}

// ---- events and deliveries ----

func eventCommands() []cliCommand {
	return []cliCommand{
		{noun: "events", verb: "publish", summary: "publish an event to every matching webhook", flags: func(fs *flag.FlagSet) cliAction {
			typ := fs.String("type", "", "event `type` (required)")
			data := fs.String("data", "{}", "event data: a JSON object, @FILE, or - for stdin")
			owner := fs.String("owner", "", "owner `id` label")
			idem := fs.String("idempotency-key", "", "publishing the same `key` again returns the first event")
			return func(cl *cli, a *cliArgs) error {
				if strings.TrimSpace(*typ) == "" {
					return usagef("%s: --type is required", a.name)
				}
				raw, err := cl.readJSONArg("data", *data, true)
				if err != nil {
					return err
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				evt, err := c.PublishEvent(cl.ctx, *typ, raw, *owner, *idem)
				if err != nil {
					return err
				}
				return cl.printOne(evt)
			}
		}},
		{noun: "events", verb: "get", args: "ID", summary: "show one event and its delivery ids", flags: idAction((*client.Client).GetEvent)},
	}
}

var deliveryTable = cliTable[client.Delivery]{
	head: []string{"ID", "WEBHOOK", "EVENT TYPE", "STATUS", "ATTEMPTS", "LAST CODE", "NEXT ATTEMPT", "CREATED"},
	row: func(d *client.Delivery) []string {
		return []string{d.ID, d.WebhookID, d.EventType, d.Status, strconv.Itoa(d.Attempts), fmtInt(d.LastStatusCode), fmtTimePtr(d.NextAttemptAt), fmtTime(d.CreatedAt)}
	},
}

func deliveryCommands() []cliCommand {
	return []cliCommand{
		{noun: "deliveries", verb: "list", summary: "list a webhook's deliveries, newest first", flags: func(fs *flag.FlagSet) cliAction {
			webhook := fs.String("webhook", "", "webhook `ID` (required)")
			status := fs.String("status", "", "only this status: pending, processing, delivered, failed, dead")
			eventType := fs.String("event-type", "", "only this event `type`")
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				if *webhook == "" {
					return usagef("%s: --webhook is required", a.name)
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListWebhookDeliveries(cl.ctx, *webhook, client.DeliveryFilter{Status: *status, EventType: *eventType, Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, deliveryTable)
			}
		}},
		{noun: "deliveries", verb: "get", args: "ID", summary: "show one delivery with its attempts", flags: idAction((*client.Client).GetDelivery)},
		{noun: "deliveries", verb: "retry", args: "ID", summary: "attempt again now (outside the retry budget)", flags: idAction((*client.Client).RetryDelivery)},
		{noun: "deliveries", verb: "summary", summary: "count a webhook's deliveries by status", flags: func(fs *flag.FlagSet) cliAction {
			webhook := fs.String("webhook", "", "webhook `ID` (required)")
			return func(cl *cli, a *cliArgs) error {
				if *webhook == "" {
					return usagef("%s: --webhook is required", a.name)
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				s, err := c.WebhookDeliverySummary(cl.ctx, *webhook)
				if err != nil {
					return err
				}
				return cl.printOne(s)
			}
		}},
	}
}

// ---- triggers ----

var triggerTable = cliTable[client.Trigger]{
	head: []string{"ID", "NAME", "JOB", "TOKEN", "MODE", "ACTIVE", "SIGNED", "LAST USED"},
	row: func(t *client.Trigger) []string {
		signed := "no"
		if t.HasSecret {
			signed = t.Signature
			if signed == "" {
				signed = "yes"
			}
		}
		tok := t.TokenPrefix
		if tok != "" {
			tok += "…"
		}
		return []string{t.ID, t.Name, t.JobID, tok, t.Mode, strconv.FormatBool(t.IsActive), signed, fmtTimePtr(t.LastUsedAt)}
	},
}

var callTable = cliTable[client.Call]{
	head: []string{"ID", "DISPOSITION", "CODE", "METHOD", "IP", "EXECUTION", "DETAIL", "AT"},
	row: func(c *client.Call) []string {
		return []string{c.ID, c.Disposition, fmtInt(c.StatusCode), c.Method, c.IP, c.ExecutionID, c.Detail, fmtTime(c.CreatedAt)}
	},
}

// triggerFlags are the fields create and update share.
type triggerFlags struct {
	job, name, owner, mode, cooldownMode, dedupHeader, signature string
	wait, rateLimit, cooldown                                    int
	methods                                                      cliList
	mapping                                                      cliPairs
}

func (f *triggerFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.job, "job", "", "job `ID` the trigger starts")
	fs.StringVar(&f.name, "name", "", "name")
	fs.StringVar(&f.owner, "owner", "", "owner `id` label")
	fs.StringVar(&f.mode, "mode", "", "async (answer 202 at once, default) or sync (wait for the result)")
	fs.IntVar(&f.wait, "wait", 0, "sync: `seconds` to wait for the result (default 25, max 300)")
	fs.Var(&f.methods, "methods", "allowed HTTP `methods`, comma-separated (default POST,GET)")
	fs.IntVar(&f.rateLimit, "rate-limit", 0, "calls per minute per client IP (default 30)")
	fs.IntVar(&f.cooldown, "cooldown", 0, "at most one run per this many `seconds` (0 = off)")
	fs.StringVar(&f.cooldownMode, "cooldown-mode", "", "coalesce (default) or drop")
	fs.StringVar(&f.dedupHeader, "dedup-header", "", "`header` whose value makes repeated calls duplicates (default webhook-id)")
	fs.StringVar(&f.signature, "signature", "", "signature `scheme`: hmac-sha256, github, stripe, slack, standard-webhooks")
	f.mapping.sep = "="
	fs.Var(&f.mapping, "map", "input mapping `field=path` (body.x, query.y, headers.Name, ip), repeatable")
}

func triggerCommands() []cliCommand {
	rotate := func(what string, fn func(c *client.Client, ctx context.Context, id string, grace int) (*client.Trigger, error)) func(fs *flag.FlagSet) cliAction {
		return func(fs *flag.FlagSet) cliAction {
			grace := fs.Int("grace", client.DefaultGrace, "`seconds` the old "+what+" keeps working (default 0: it stops at once)")
			return func(cl *cli, a *cliArgs) error {
				if a.set["grace"] && *grace < 0 {
					return usagef("%s: --grace must be ≥ 0", a.name)
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				t, err := fn(c, cl.ctx, a.id(), *grace)
				if err != nil {
					return err
				}
				return cl.printOne(t)
			}
		}
	}
	return []cliCommand{
		{noun: "triggers", verb: "list", summary: "list triggers, newest first", flags: func(fs *flag.FlagSet) cliAction {
			owner := fs.String("owner", "", "only this owner `id`")
			job := fs.String("job", "", "only triggers of this job `ID`")
			all := fs.Bool("all", false, "include inactive triggers")
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListTriggers(cl.ctx, client.TriggerFilter{OwnerID: *owner, JobID: *job, IncludeInactive: *all, Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, triggerTable)
			}
		}},
		{noun: "triggers", verb: "create", summary: "make an inbound URL for a job; prints its token and URL once", flags: func(fs *flag.FlagSet) cliAction {
			var f triggerFlags
			f.define(fs)
			gen := fs.Bool("generate-secret", false, "have the server make an HMAC secret (printed once)")
			secret := fs.String("secret", "", "HMAC `secret` a provider gave you (never shown again)")
			return func(cl *cli, a *cliArgs) error {
				if f.job == "" {
					return usagef("%s: --job is required", a.name)
				}
				if *gen && *secret != "" {
					return usagef("%s: give --generate-secret or --secret, not both", a.name)
				}
				p := client.TriggerCreate{JobID: f.job, Name: f.name, OwnerID: f.owner, Methods: f.methods, Mode: f.mode,
					WaitSeconds: f.wait, RateLimitPerMinute: f.rateLimit, CooldownSeconds: f.cooldown, CooldownMode: f.cooldownMode,
					DedupHeader: f.dedupHeader, InputMapping: f.mapping.m, Signature: f.signature, GenerateSecret: *gen, Secret: *secret}
				c, err := cl.api()
				if err != nil {
					return err
				}
				t, err := c.CreateTrigger(cl.ctx, p)
				if err != nil {
					return err
				}
				return cl.printOne(t)
			}
		}},
		{noun: "triggers", verb: "get", args: "ID", summary: "show one trigger", flags: idAction((*client.Client).GetTrigger)},
		{noun: "triggers", verb: "update", args: "ID", summary: "change the fields given (only those)", flags: func(fs *flag.FlagSet) cliAction {
			var f triggerFlags
			f.define(fs)
			active := fs.Bool("active", true, "activate (--active) or deactivate (--active=false)")
			return func(cl *cli, a *cliArgs) error {
				var p client.TriggerUpdate
				var ch changes
				set := func(name string, apply func()) { ch.set(a, name, apply) }
				set("active", func() { p.IsActive = active })
				set("job", func() { p.JobID = &f.job })
				set("name", func() { p.Name = &f.name })
				set("owner", func() { p.OwnerID = &f.owner })
				set("mode", func() { p.Mode = &f.mode })
				set("wait", func() { p.WaitSeconds = &f.wait })
				set("methods", func() { p.Methods = (*[]string)(&f.methods) })
				set("rate-limit", func() { p.RateLimitPerMinute = &f.rateLimit })
				set("cooldown", func() { p.CooldownSeconds = &f.cooldown })
				set("cooldown-mode", func() { p.CooldownMode = &f.cooldownMode })
				set("dedup-header", func() { p.DedupHeader = &f.dedupHeader })
				set("signature", func() { p.Signature = &f.signature })
				set("map", func() { p.InputMapping = &f.mapping.m })
				if err := ch.none(a); err != nil {
					return err
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				t, err := c.UpdateTrigger(cl.ctx, a.id(), p)
				if err != nil {
					return err
				}
				return cl.printOne(t)
			}
		}},
		{noun: "triggers", verb: "delete", args: "ID", summary: "delete a trigger; its URL stops working", flags: deleteAction((*client.Client).DeleteTrigger)},
		{noun: "triggers", verb: "rotate-token", args: "ID", summary: "new token and URL, printed once", flags: rotate("token", (*client.Client).RotateTriggerToken)},
		{noun: "triggers", verb: "rotate-secret", args: "ID", summary: "new HMAC secret, printed once", flags: rotate("secret", (*client.Client).RotateTriggerSecret)},
		{noun: "triggers", verb: "calls", args: "ID", summary: "the call log: every call, its disposition and execution", flags: func(fs *flag.FlagSet) cliAction {
			disp := fs.String("disposition", "", "only this disposition: accepted, unauthorized, bad_signature, rate_limited, inactive, duplicate, coalesced, dropped")
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListTriggerCalls(cl.ctx, a.id(), client.CallFilter{Disposition: *disp, Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, callTable)
			}
		}},
	}
}

// ---- jobs and executions ----

var jobTable = cliTable[client.Job]{
	head: []string{"ID", "NAME", "KIND", "SCHEDULE", "CONCURRENCY", "OWNER", "LAST RUN"},
	row: func(j *client.Job) []string {
		sched := ""
		if j.Schedule != nil {
			if j.Schedule.Every != "" {
				sched = "every " + j.Schedule.Every
			} else {
				sched = j.Schedule.Cron
			}
		}
		return []string{j.ID, j.Name, j.Kind, sched, strconv.Itoa(j.Concurrency), j.OwnerID, fmtTimePtr(j.LastRunAt)}
	},
}

var executionTable = cliTable[client.Execution]{
	head: []string{"ID", "JOB", "STATUS", "SOURCE", "TRIGGER", "DURATION", "CREATED"},
	row: func(e *client.Execution) []string {
		dur := ""
		if e.FinishedAt != nil {
			dur = (time.Duration(e.DurationMS) * time.Millisecond).String()
		}
		return []string{e.ID, e.JobID, e.Status, e.Source, e.TriggerID, dur, fmtTime(e.CreatedAt)}
	},
}

func jobCommands() []cliCommand {
	return []cliCommand{
		{noun: "jobs", verb: "list", summary: "list jobs, newest first", flags: func(fs *flag.FlagSet) cliAction {
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListJobs(cl.ctx, client.Page{Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, jobTable)
			}
		}},
		{noun: "jobs", verb: "create", summary: "add a job", flags: func(fs *flag.FlagSet) cliAction {
			name := fs.String("name", "", "job name (required)")
			kind := fs.String("kind", "", "http, command, event or group (required)")
			config := fs.String("config", "", "the kind's config: a JSON object, @FILE, or - for stdin")
			conc := fs.Int("concurrency", 0, "runs at once (default 1)")
			timeout := fs.Int("timeout", 0, "`seconds` a run may take (default 600)")
			every := fs.String("every", "", "run every `duration` (such as 1h)")
			cron := fs.String("cron", "", "run on a cron `schedule` (such as \"0 6 * * *\")")
			owner := fs.String("owner", "", "owner `id` label")
			return func(cl *cli, a *cliArgs) error {
				if *name == "" || *kind == "" {
					return usagef("%s: --name and --kind are required", a.name)
				}
				if *every != "" && *cron != "" {
					return usagef("%s: give --every or --cron, not both", a.name)
				}
				if *every != "" {
					if _, err := time.ParseDuration(*every); err != nil {
						return usagef("%s: --every: %v", a.name, err)
					}
				}
				p := client.JobCreate{Name: *name, Kind: *kind, Concurrency: *conc, TimeoutSeconds: *timeout, OwnerID: *owner}
				if *config != "" {
					raw, err := cl.readJSONArg("config", *config, true)
					if err != nil {
						return err
					}
					p.Config = raw
				}
				if *every != "" || *cron != "" {
					p.Schedule = &client.Schedule{Every: *every, Cron: *cron}
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				j, err := c.CreateJob(cl.ctx, p)
				if err != nil {
					return err
				}
				return cl.printOne(j)
			}
		}},
		{noun: "jobs", verb: "get", args: "ID", summary: "show one job", flags: idAction((*client.Client).GetJob)},
		{noun: "jobs", verb: "delete", args: "ID", summary: "delete a job", flags: deleteAction((*client.Client).DeleteJob)},
		{noun: "jobs", verb: "run", args: "ID", summary: "start an execution; with --wait, wait for its result (exit 1 when it failed)", flags: func(fs *flag.FlagSet) cliAction {
			input := fs.String("input", "", "input: JSON, @FILE, or - for stdin (default {})")
			wait := fs.Int("wait", 0, "`seconds` to wait for the result (0: answer at once)")
			return func(cl *cli, a *cliArgs) error {
				if *wait < 0 {
					return usagef("%s: --wait must be ≥ 0", a.name)
				}
				var in any
				if *input != "" {
					raw, err := cl.readJSONArg("input", *input, false)
					if err != nil {
						return err
					}
					in = raw
				}
				var w *int
				if *wait > 0 {
					w = wait
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				r, err := c.RunJob(cl.ctx, a.id(), in, w)
				if err != nil {
					return err
				}
				if err := cl.printOne(r); err != nil {
					return err
				}
				if !r.Success {
					return fmt.Errorf("execution %s %s: %s", r.ExecutionID, r.Status, r.Reason)
				}
				return nil
			}
		}},
	}
}

func executionCommands() []cliCommand {
	return []cliCommand{
		{noun: "executions", verb: "list", summary: "list executions, newest first", flags: func(fs *flag.FlagSet) cliAction {
			job := fs.String("job", "", "only runs of this job `ID`")
			trigger := fs.String("trigger", "", "only runs started by this trigger `ID`")
			status := fs.String("status", "", "only this status: queued, running, succeeded, failed, canceled")
			source := fs.String("source", "", "only this source: webhook, schedule, api, retry")
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListExecutions(cl.ctx, client.ExecutionFilter{JobID: *job, TriggerID: *trigger, Status: *status, Source: *source, Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, executionTable)
			}
		}},
		{noun: "executions", verb: "get", args: "ID", summary: "show one execution with its input and result", flags: idAction((*client.Client).GetExecution)},
	}
}

// ---- workspaces and keys ----

var workspaceTable = cliTable[client.Workspace]{
	head: []string{"ID", "NAME", "CREATED"},
	row:  func(w *client.Workspace) []string { return []string{w.ID, w.Name, fmtTime(w.CreatedAt)} },
}

var keyTable = cliTable[client.APIKey]{
	head: []string{"ID", "NAME", "PREFIX", "SCOPES", "OPERATOR", "LAST USED", "CREATED"},
	row: func(k *client.APIKey) []string {
		op := ""
		if k.Operator {
			op = "yes"
		}
		return []string{k.ID, k.Name, k.Prefix, strings.Join(k.Scopes, ","), op, fmtTimePtr(k.LastUsedAt), fmtTime(k.CreatedAt)}
	},
}

func workspaceCommands() []cliCommand {
	return []cliCommand{
		{noun: "workspaces", verb: "list", summary: "list workspaces (operator key)", flags: func(fs *flag.FlagSet) cliAction {
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListWorkspaces(cl.ctx, client.Page{Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, workspaceTable)
			}
		}},
		{noun: "workspaces", verb: "create", summary: "make a workspace and its admin key (printed once)", flags: func(fs *flag.FlagSet) cliAction {
			name := fs.String("name", "", "workspace name (required)")
			return func(cl *cli, a *cliArgs) error {
				if strings.TrimSpace(*name) == "" {
					return usagef("%s: --name is required", a.name)
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				ws, key, err := c.CreateWorkspace(cl.ctx, *name)
				if err != nil {
					return err
				}
				// The server's own shape: the workspace and the key's secret.
				return cl.printOne(struct {
					*client.Workspace
					APIKey string `json:"api_key"`
				}{ws, key.Key})
			}
		}},
	}
}

func keyCommands() []cliCommand {
	return []cliCommand{
		{noun: "keys", verb: "list", summary: "list the workspace's API keys", flags: func(fs *flag.FlagSet) cliAction {
			limit, offset := pageFlags(fs)
			return func(cl *cli, a *cliArgs) error {
				c, err := cl.api()
				if err != nil {
					return err
				}
				l, err := c.ListAPIKeys(cl.ctx, client.Page{Limit: *limit, Offset: *offset})
				if err != nil {
					return err
				}
				return printList(cl, l, keyTable)
			}
		}},
		{noun: "keys", verb: "create", summary: "make an API key (printed once)", flags: func(fs *flag.FlagSet) cliAction {
			name := fs.String("name", "", "key name")
			var scopes cliList
			fs.Var(&scopes, "scopes", "`scopes`, comma-separated: read, write, admin (default read)")
			return func(cl *cli, a *cliArgs) error {
				if len(scopes) == 0 {
					scopes = cliList{"read"}
				}
				for _, s := range scopes {
					if s != "read" && s != "write" && s != "admin" {
						return usagef("%s: unknown scope %q (read, write, admin)", a.name, s)
					}
				}
				c, err := cl.api()
				if err != nil {
					return err
				}
				k, err := c.CreateAPIKey(cl.ctx, client.APIKeyCreate{Name: *name, Scopes: scopes})
				if err != nil {
					return err
				}
				return cl.printOne(k)
			}
		}},
		{noun: "keys", verb: "delete", args: "ID", summary: "revoke an API key", flags: deleteAction((*client.Client).DeleteAPIKey)},
	}
}
