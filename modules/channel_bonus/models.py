from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey

from database.models import Base


def _utcnow() -> datetime:
    return datetime.utcnow()  # naive UTC: the column is TIMESTAMP WITHOUT TIME ZONE


class ChannelBonusClaim(Base):
    __tablename__ = "channel_bonus_claims"

    tg_id = Column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    claimed_at = Column(DateTime, default=_utcnow)
