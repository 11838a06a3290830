"""CloudFormation: stacks of nubis resources, with the AWS::Serverless (SAM) transform."""
