package db

// TestArgon2Params exposes the internal tests' argon2id parameters to the
// external test package, which compares them with dbtest's.
var TestArgon2Params = testArgon2
