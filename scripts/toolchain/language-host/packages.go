package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// packageJSON holds the fields of package.json we care about. Provider SDKs
// such as @pulumi/command announce their plugin in the "pulumi" section.
type packageJSON struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	Pulumi          struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

func readPackageJSON(path string) (*packageJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p packageJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// walkPackages calls fn for every installed package under dir/node_modules,
// including nested node_modules, since npm puts a second version of a provider
// SDK there when two dependants disagree.
func walkPackages(dir string, fn func(pkgDir string, p *packageJSON)) error {
	seen := map[string]bool{}
	var walk func(nodeModules string) error
	walk = func(nodeModules string) error {
		entries, err := os.ReadDir(nodeModules)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue // .bin, .package-lock.json, .cache
			}
			dirs := []string{filepath.Join(nodeModules, name)}
			if strings.HasPrefix(name, "@") {
				scoped, err := os.ReadDir(dirs[0])
				if err != nil {
					continue
				}
				dirs = dirs[:0]
				for _, s := range scoped {
					dirs = append(dirs, filepath.Join(nodeModules, name, s.Name()))
				}
			}
			for _, pkgDir := range dirs {
				// Workspaces symlink packages; resolve so cycles end.
				real, err := filepath.EvalSymlinks(pkgDir)
				if err != nil || seen[real] {
					continue
				}
				seen[real] = true
				p, err := readPackageJSON(filepath.Join(pkgDir, "package.json"))
				if err != nil {
					continue // not a package (or a broken one npm would also skip)
				}
				fn(pkgDir, p)
				if err := walk(filepath.Join(pkgDir, "node_modules")); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(filepath.Join(dir, "node_modules"))
}

// resourcePackages lists the resource plugins the installed provider SDKs ask
// for, so the engine can check for them before the program starts.
func resourcePackages(dir string) ([]*pulumirpc.PackageDependency, error) {
	var pkgs []*pulumirpc.PackageDependency
	seen := map[string]bool{}
	err := walkPackages(dir, func(_ string, p *packageJSON) {
		if !p.Pulumi.Resource {
			return
		}
		name := p.Pulumi.Name
		if name == "" {
			name = strings.TrimPrefix(p.Name, "@pulumi/")
		}
		version := p.Pulumi.Version
		if version == "" {
			version = p.Version
		}
		if key := name + "@" + version; !seen[key] {
			seen[key] = true
			pkgs = append(pkgs, &pulumirpc.PackageDependency{
				Name: name, Kind: "resource", Version: version, Server: p.Pulumi.Server,
			})
		}
	})
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, err
}

// installedDependencies reports the installed versions of what package.json
// asks for (for `pulumi about`), or of everything installed when transitive.
func installedDependencies(dir string, transitive bool) ([]*pulumirpc.DependencyInfo, error) {
	var deps []*pulumirpc.DependencyInfo
	if transitive {
		err := walkPackages(dir, func(_ string, p *packageJSON) {
			deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
		})
		return deps, err
	}

	root, err := readPackageJSON(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	names := []string{}
	for n := range root.Dependencies {
		names = append(names, n)
	}
	for n := range root.DevDependencies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		version := "(not installed)"
		if p, err := readPackageJSON(filepath.Join(dir, "node_modules", n, "package.json")); err == nil {
			version = p.Version
		}
		deps = append(deps, &pulumirpc.DependencyInfo{Name: n, Version: version})
	}
	return deps, nil
}
