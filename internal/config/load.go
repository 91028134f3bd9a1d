package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that select the config.
const (
	EnvConfigPath   = "POWERSYNC_CONFIG_PATH"
	EnvConfigBase64 = "POWERSYNC_CONFIG_B64"
	EnvLogLevel     = "PS_LOG_LEVEL"
	EnvLogFormat    = "PS_LOG_FORMAT"
)

// discoveryPaths are the files Load tries, in order, relative to the working
// directory, when LoadOptions.Discover is set and no config was given.
var discoveryPaths = []string{"powersync/service.yaml", "service.yaml", "powersync.yaml"}

// DiscoveryPaths returns the files Load tries, in order, when
// LoadOptions.Discover is set and nothing names a config.
func DiscoveryPaths() []string { return append([]string(nil), discoveryPaths...) }

// LoadOptions says where the config comes from.
type LoadOptions struct {
	// Path is a config file (-c); .json files are JSON, anything else YAML
	// (which also reads JSON).
	Path string
	// Base64 is base64 config text (--config-base64), YAML or JSON.
	Base64 string
	// Getenv reads environment variables: POWERSYNC_CONFIG_PATH,
	// POWERSYNC_CONFIG_B64, the !env variables, PS_LOG_LEVEL/PS_LOG_FORMAT
	// and POWERSYNC_SYNC_CONFIG_B64. Nil means os.Getenv.
	Getenv func(string) string
	// Discover tries DiscoveryPaths() when nothing else names a config.
	Discover bool
	// WorkDir is the directory relative paths and discovery start from;
	// "" means the process's working directory.
	WorkDir string
}

// Load finds, reads and parses the config. The first source that is set
// wins: Base64, Path, $POWERSYNC_CONFIG_B64, $POWERSYNC_CONFIG_PATH, then
// (with Discover) the first of DiscoveryPaths() that exists. With nothing
// found the error wraps ErrNotFound. Errors are *Error.
func Load(opts LoadOptions) (*Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	wd := opts.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("config: working directory: %w", err)
		}
	}
	if opts.Base64 != "" && opts.Path != "" {
		return nil, sourceError("", "give either a config file or base64 config text, not both", nil)
	}
	b64, b64Name := opts.Base64, "--config-base64"
	path := opts.Path
	if b64 == "" && path == "" {
		if b64 = getenv(EnvConfigBase64); b64 != "" {
			b64Name = EnvConfigBase64
		} else {
			path = getenv(EnvConfigPath)
		}
	}
	switch {
	case b64 != "":
		src, err := decodeBase64(b64)
		if err != nil {
			return nil, sourceError(b64Name, "not valid base64: "+err.Error(), err)
		}
		return parse(src, b64Name, "", wd, getenv, os.ReadFile)
	case path != "":
		return loadFile(path, wd, getenv)
	case opts.Discover:
		for _, p := range discoveryPaths {
			full := filepath.Join(wd, p)
			if st, err := os.Stat(full); err == nil && !st.IsDir() {
				return loadFile(p, wd, getenv)
			}
		}
		return nil, sourceError("", fmt.Sprintf("no config found: pass -c FILE, set %s or %s, or create one of %s",
			EnvConfigPath, EnvConfigBase64, strings.Join(discoveryPaths, ", ")), ErrNotFound)
	}
	return nil, sourceError("", fmt.Sprintf("no config given: pass -c FILE or set %s or %s", EnvConfigPath, EnvConfigBase64), ErrNotFound)
}

func loadFile(path, wd string, getenv func(string) string) (*Config, error) {
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(wd, full)
	}
	src, err := os.ReadFile(full)
	if err != nil {
		reason := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err.Error()
		}
		return nil, sourceError(path, "cannot read the config: "+reason, err)
	}
	return parse(src, path, full, filepath.Dir(full), getenv, os.ReadFile)
}

func sourceError(file, msg string, cause error) *Error {
	return &Error{
		SourceName:  file,
		Diagnostics: []Diagnostic{{File: file, Severity: SeverityError, Message: msg}},
		cause:       cause,
	}
}

// Parse parses config text. file names it in diagnostics; relative paths in
// the config resolve against file's directory (the working directory when
// file is ""). A .json file must be strict JSON. getenv reads !env
// variables and the PS_LOG_* overrides (nil: no variables are set). Errors
// are *Error.
func Parse(data []byte, file string, getenv func(string) string) (*Config, error) {
	dir := ""
	full := ""
	if file != "" {
		if abs, err := filepath.Abs(file); err == nil {
			full = abs
			dir = filepath.Dir(abs)
		}
	}
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("config: working directory: %w", err)
		}
		dir = wd
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return parse(data, file, full, dir, getenv, os.ReadFile)
}

// parse is the common path: name is what diagnostics call the text, file
// the absolute path of the config file ("" for base64 text), dir where
// relative paths resolve.
func parse(src []byte, name, file, dir string, getenv func(string) string, readFile func(string) ([]byte, error)) (*Config, error) {
	c := &collector{file: name}
	cfg := Default(dir)
	cfg.File = file
	cfg.Source = src
	cfg.SourceName = name

	if strings.EqualFold(filepath.Ext(name), ".json") && !json.Valid(src) {
		c.add(SeverityError, jsonErrorPos(src), "", "JSON syntax: "+jsonError(src))
	} else if tree := parseTree(src, c, getenv); tree != nil {
		d := &decoder{c: c, at: map[string]pos{}}
		d.root(tree, cfg, readFile, getenv)
		cfg.Positions = make(map[string]Position, len(d.at))
		for k, p := range d.at {
			cfg.Positions[k] = Position{Line: p.line, Column: p.col}
		}
	}
	applyLogEnv(cfg, c, getenv)

	errs, warns := c.split()
	if len(errs) > 0 {
		return nil, &Error{Source: src, SourceName: name, Diagnostics: errs, Warnings: warns}
	}
	cfg.Warnings = warns
	return cfg, nil
}

// applyLogEnv lets PS_LOG_LEVEL and PS_LOG_FORMAT override system.logging.
func applyLogEnv(cfg *Config, c *collector, getenv func(string) string) {
	if v := getenv(EnvLogLevel); v != "" {
		if _, ok := logLevels[v]; ok {
			cfg.System.Logging.Level = v
		} else {
			c.diags = append(c.diags, Diagnostic{File: EnvLogLevel, Severity: SeverityError, Path: EnvLogLevel,
				Message: fmt.Sprintf("expected one of %s, got %q", quoteList(logLevelNames), v)})
		}
	}
	if v := getenv(EnvLogFormat); v != "" {
		if v == "text" || v == "json" {
			cfg.System.Logging.Format = v
		} else {
			c.diags = append(c.diags, Diagnostic{File: EnvLogFormat, Severity: SeverityError, Path: EnvLogFormat,
				Message: fmt.Sprintf("expected one of %s, got %q", quoteList(logFormats), v)})
		}
	}
}

func jsonError(src []byte) string {
	var v any
	if err := json.Unmarshal(src, &v); err != nil {
		return err.Error()
	}
	return "invalid JSON"
}

// jsonErrorPos turns the byte offset of a JSON syntax error into a position.
func jsonErrorPos(src []byte) pos {
	var v any
	var se *json.SyntaxError
	off := len(src)
	if err := json.Unmarshal(src, &v); errors.As(err, &se) {
		off = int(se.Offset)
	}
	if off > 0 {
		off-- // Offset is just after the offending byte
	}
	line, col := 1, 1
	for i, r := range string(src) {
		if i >= off {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return pos{line, col}
}
