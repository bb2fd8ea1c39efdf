# Path the payment provider posts to (served by the bot's web server).
WEBHOOK_PATH = "/api/payment_webhook"
# Shared secret: the provider signs the raw body with HMAC-SHA256 and sends the hex digest
# in the X-Signature header. Change it before going live.
SECRET = "change-me"
PAYMENT_SYSTEM = "partner_pay"
