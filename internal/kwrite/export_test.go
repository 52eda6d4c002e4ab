package kwrite

// RandBytes is randBytes for the package's external tests.
var RandBytes = randBytes
