"""The AWS side: the Lambda entry, the AWS store on local servers, logs and the SAM template."""
