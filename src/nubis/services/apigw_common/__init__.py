"""What the two API Gateway providers (apigateway: REST APIs; apigatewayv2: HTTP and WebSocket APIs)
have in common. Providers do not import each other, so the shared pieces live here."""
