// The LMV capture module: one actor (ACaptureManager) that writes the buffers of lmv's export layout.
#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"

LMVCAPTURE_API DECLARE_LOG_CATEGORY_EXTERN(LogLmvCapture, Log, All);

class FLmvCaptureModule : public IModuleInterface
{
public:
	/** Loads the ImageWrapper module on the game thread, so that EXR writer threads only look it up. */
	virtual void StartupModule() override;
	virtual void ShutdownModule() override;
};
