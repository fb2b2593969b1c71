// Package password hashes and checks passwords with argon2id, stored as PHC
// strings ($argon2id$v=19$m=19456,t=2,p=1$salt$hash), with bounded
// concurrency and a dummy hash for users that do not exist.
package password
