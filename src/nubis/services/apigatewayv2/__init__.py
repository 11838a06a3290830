"""API Gateway v2 (botocore `apigatewayv2`, 2018-11-29): HTTP APIs in front of functions and HTTP backends."""
