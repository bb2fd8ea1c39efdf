# ruff: noqa  (the seed guide's code verbatim: a modcheck fixture)
from datetime import datetime
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, String
from database.models import Base


class ChannelBonusClaim(Base):
    __tablename__ = "channel_bonus_claims"

    tg_id = Column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    claimed_at = Column(DateTime, default=datetime.utcnow)
