// Package e2e runs the built binaries as processes and checks the deployment files, against the contract.
package e2e
