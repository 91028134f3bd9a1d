package cli

import (
	"github.com/powersync-go/powersync/internal/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// configFlags are the flags of every command that reads service.yaml:
// -c/--config FILE (also spelled --config-path, as in the reference) and
// --config-base64 TEXT. With neither, POWERSYNC_CONFIG_B64 and
// POWERSYNC_CONFIG_PATH are read, then (if the command allows) the usual
// files are tried.
type configFlags struct {
	path   string
	base64 string
}

// addConfigFlags registers the config flags on cmd.
func addConfigFlags(cmd *cobra.Command) *configFlags {
	f := &configFlags{}
	fs := cmd.Flags()
	fs.StringVarP(&f.path, "config", "c", "", "service config file (.yaml, .yml or .json); default $"+config.EnvConfigPath)
	fs.StringVar(&f.base64, "config-base64", "", "service config as base64 text (YAML or JSON); default $"+config.EnvConfigBase64)
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "config-path" {
			name = "config"
		}
		return pflag.NormalizedName(name)
	})
	return f
}

// load reads the config the flags and environment name. With discover,
// ./powersync/service.yaml, ./service.yaml and ./powersync.yaml are tried
// when nothing names one.
func (f *configFlags) load(e *env, discover bool) (*config.Config, error) {
	return config.Load(config.LoadOptions{
		Path:     f.path,
		Base64:   f.base64,
		Getenv:   e.getenv,
		Discover: discover,
	})
}
