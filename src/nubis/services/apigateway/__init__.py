"""API Gateway REST APIs (botocore `apigateway`, 2015-07-09): control plane and serving."""
