package dpop_test

import "github.com/golang-jwt/jwt/v5"

func jwtHS256(signing string, secret []byte) ([]byte, error) {
	return jwt.SigningMethodHS256.Sign(signing, secret)
}
