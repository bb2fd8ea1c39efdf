from sqlalchemy import BigInteger, Column, String

from database.models import Base


class ExpiryReminderSent(Base):
    """One row per key and expiry date already reminded about (a renewal moves the date: a new reminder)."""

    __tablename__ = "expiry_reminder_sent"

    client_id = Column(String, primary_key=True)
    expiry_time = Column(BigInteger, primary_key=True)
